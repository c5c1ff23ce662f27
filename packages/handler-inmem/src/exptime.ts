// memcached's exptime rules live in the protocol package, shared by every handler.
export { absoluteExptime, isExpired, EXPIRED_EXPTIME, REALTIME_MAXDELTA } from '@cleave/protocol';
