/**
 * Where a library package reports what an operator should know (a backend
 * connecting, going away, coming back; a server ejected or recovered): once
 * per transition, never per request. The shape is pino's `(fields, message)`,
 * so a pino logger is one, and the packages stay free of the dependency.
 * Without a logger, nothing is reported.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}
