import { invocation, type Invocation, type SelfDrivenDeps } from '../self-driven/invocation.js';
import type { EventScope } from './events.js';
import { createContextLogger, type LogSink } from './logger.js';

/** What the four Azure functions are built from: the self-driven deps, and this app's vault and name prefix. */
export interface AzureFunctionDeps extends SelfDrivenDeps {
  /** This app's vault and secret name prefix: events for anything else are refused. */
  scope: EventScope;
}

/** One invocation's tools, logging through the invocation's context (so Application Insights attributes each line). */
export function azureInvocation(deps: AzureFunctionDeps, sink: LogSink): Invocation {
  return invocation(deps, (redactor) => createContextLogger(sink, redactor, deps.logLevel));
}
