/**
 * The commands cleave-load sends, as small integers (array indexes in the hot
 * loop), and their names as memcached's text protocol spells them.
 */
export const GET = 0;
export const GETS = 1;
export const GAT = 2;
export const SET = 3;
export const ADD = 4;
export const REPLACE = 5;
export const APPEND = 6;
export const PREPEND = 7;
export const CAS = 8;
export const DELETE = 9;
export const INCR = 10;
export const DECR = 11;
export const TOUCH = 12;

export const COMMAND_COUNT = 13;

export const COMMAND_NAMES = [
  'get',
  'gets',
  'gat',
  'set',
  'add',
  'replace',
  'append',
  'prepend',
  'cas',
  'delete',
  'incr',
  'decr',
  'touch',
] as const;

export type CommandName = (typeof COMMAND_NAMES)[number];

/** Retrievals: answered with the item or a miss. */
export function isRetrieval(cmd: number): boolean {
  return cmd <= GAT;
}

/** Commands that carry a data block. */
export function carriesValue(cmd: number): boolean {
  return cmd >= SET && cmd <= CAS;
}

/**
 * Key families. Items hold self-describing values; counters hold decimal
 * digits (incr/decr); appendables take append/prepend, so their values are
 * not self-describing and only their framing and key are checked.
 */
export const ITEM = 0;
export const COUNTER = 1;
export const APPENDABLE = 2;
export const FAMILY_LETTERS = ['i', 'c', 'a'] as const;
