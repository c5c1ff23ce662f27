import type { MaybePromise } from '@cleave/protocol';

export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/** Apply `f` to a value now when it is ready, or when its Promise settles: no Promise is made for ready values. */
export function andThen<T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromise(v) ? v.then(f) : f(v);
}

/** Call `f` and turn a synchronous throw into a rejected Promise only when `f` would have been asynchronous anyway. */
export function attempt<T>(f: () => MaybePromise<T>, onError: (err: unknown) => MaybePromise<T>): MaybePromise<T> {
  let r: MaybePromise<T>;
  try {
    r = f();
  } catch (err) {
    return onError(err);
  }
  return isPromise(r) ? r.catch(onError) : r;
}
