/** `rotator/pg`: a pg Pool whose new connections log in with the secret the reader holds (loads pg). */
export { createPgPool, type PgPoolOptions } from './pg-pool.js';
