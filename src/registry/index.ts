/** The registry client's public surface. */
export { Authenticator, type Challenge, parseChallenges, repositoryScope, withAuth } from "./auth.ts";
export { openRegistryClient, RegistryClient, type RegistryOptions } from "./client.ts";
export {
  type Credential,
  containersAuthPaths,
  DOCKER_HUB_KEY,
  dockerConfigPath,
  type Env,
  eraseCredential,
  type KeychainOptions,
  resolveCredential,
  serverKey,
  storeCredential,
} from "./credentials.ts";
export { networkError, parseErrorBody, type RegistryErrorEntry, responseError } from "./errors.ts";
export { allowsPlainHttp, type HostAccess, isLoopbackRegistry, RegistryHost } from "./host.ts";
export {
  createAgent,
  type HttpRequest,
  type HttpResponse,
  isTransientNetworkError,
  type Logger,
  parseRetryAfter,
  type RetryOptions,
  redactUrl,
  type Send,
  sendWith,
  withRedirects,
  withRetry,
} from "./http.ts";
export { type LoginOptions, login, logout } from "./login.ts";
export {
  type BlobReadOptions,
  type BlobWriteOptions,
  isRepository,
  type Manifested,
  nextLink,
  Repository,
  referrersTag,
  type UploadPolicy,
} from "./repository.ts";
export { RegistrySink, registrySink } from "./sink.ts";
export { startUpload, type UploadOptions, uploadBlob, uploadedBytes } from "./upload.ts";
