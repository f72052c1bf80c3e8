/** `rotator/mysql`: a mysql2 pool whose new connections log in with the secret the reader holds (loads mysql2). */
export { createMysqlPool, type MysqlPoolOptions } from './mysql-pool.js';
