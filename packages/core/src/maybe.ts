// MaybePromise helpers: work on a value that may be ready now or come later, without making a Promise for a
// ready one (a synchronous handler, such as the in-memory store, stays Promise-free through every layer).
import type { MaybePromise } from '@cleave/protocol';

/** Whether `v` is a thenable (a Promise) rather than a ready value. */
export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/** Apply `f` to `v` now when it is ready, or when its Promise settles: no Promise is made for a ready value. */
export function andThen<T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromise(v) ? v.then(f) : f(v);
}

/**
 * Call `f` and route a failure to `onError`, whether `f` throws or its Promise
 * rejects. A synchronous `f` stays synchronous: no Promise unless `f` made one.
 */
export function attempt<T>(f: () => MaybePromise<T>, onError: (err: unknown) => MaybePromise<T>): MaybePromise<T> {
  let r: MaybePromise<T>;
  try {
    r = f();
  } catch (err) {
    return onError(err);
  }
  return isPromise(r) ? r.catch(onError) : r;
}

/**
 * Call `f`, turning a synchronous throw into a rejected Promise, for callers
 * that gather results (`all`, `Promise.allSettled`) and must see every
 * failure as an outcome rather than an exception that skips the rest.
 */
export function call<T>(f: () => MaybePromise<T>): MaybePromise<T> {
  try {
    return f();
  } catch (err) {
    return Promise.reject(err);
  }
}

/** `Promise.all` that stays synchronous (and returns `values` itself) when every value is ready. */
export function all<T>(values: MaybePromise<T>[]): MaybePromise<T[]> {
  for (let i = 0; i < values.length; i++) if (isPromise(values[i])) return Promise.all(values);
  return values as T[];
}
