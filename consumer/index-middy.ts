/**
 * `rotator/middy`: the middy middleware that puts a secret read through a SecretReader on the Lambda context, and reads
 * it again when the handler's credential was refused. Loads no SDK: the store comes from its own entry point.
 */
export { rotatorSecret, type ContextWithSecret, type RotatorSecretOptions } from './middy.js';
