import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * The SDK's default credential chain in the Lambda bundles (serverless.yml's `custom.esbuild.alias` puts this module
 * in place of @aws-sdk/credential-provider-node): the environment variables only. Lambda hands every function its
 * execution role's credentials as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, the first link of
 * the SDK's own chain, so the other links (SSO, shared files, process, web identity, container and instance metadata)
 * never answer there. They are about 90 KB of every bundle (the nested STS and SSO clients among them), parsed at
 * each cold start. Without those variables the SDK's own CredentialsProviderError says so.
 */
export const defaultProvider = (init: Parameters<typeof fromEnv>[0] = {}): ReturnType<typeof fromEnv> => fromEnv(init);
