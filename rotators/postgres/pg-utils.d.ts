/**
 * pg's escaping helpers from their own module (the same functions `pg` re-exports), so importing them does not load
 * the driver itself (client, protocol, pool): see connect.ts, which loads `pg` on the first connection.
 */
declare module 'pg/lib/utils.js' {
  const utils: {
    escapeIdentifier: (str: string) => string;
    escapeLiteral: (str: string) => string;
  };
  export default utils;
}
