/** `rotator/api-key`: what a service that receives self-issued API keys uses to check them (CURRENT, and PREVIOUS within the safe window). */
export { createApiKeyVerifier, type ApiKeyVerifier, type ApiKeyVerifierOptions } from '../rotators/api-key/verifier.js';
