import type { Context } from 'aws-lambda';
import { recordOutput } from './canary.js';

/**
 * What the Lambda handler tests share: a Lambda context, and a capture of everything a handler prints
 * (Powertools writes log lines and EMF metrics through a Console bound to process.stdout / process.stderr).
 */

export const FAKE_CREDENTIALS = { accessKeyId: 'AKIDFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key' };
export const ROTATION_LAMBDA_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:rotator-rotate';
export const REQUEST_ID = 'c6af9ac6-7b61-11e6-9a41-93e812345678';

export function lambdaContext(remainingMs: number, functionName = 'rotator-rotate'): Context {
  // done/fail/succeed are the deprecated callback API, which middy and the handlers never call.
  const context: Omit<Context, 'done' | 'fail' | 'succeed'> = {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: REQUEST_ID,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]abcdef',
    getRemainingTimeInMillis: () => remainingMs,
  };
  return context as Context;
}

export interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

export interface OutputCapture {
  /** Everything printed since the capture started. */
  text(): string;
  /** The JSON lines printed: log lines and EMF documents. */
  lines(): Record<string, unknown>[];
  logLines(): Record<string, unknown>[];
  emf(): Emf[];
  /** Lets a test print (e.g. a figure) while the capture is on. */
  pause<T>(run: () => T): T;
  /** Restores the streams and hands what was printed to the leak canary. */
  stop(): void;
}

export function captureOutput(): OutputCapture {
  const captured: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((s) => s.write.bind(s));
  const capture = (): void => {
    for (const stream of streams) {
      stream.write = (chunk: unknown, ...rest: unknown[]): boolean => {
        captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
        rest.find((r): r is () => void => typeof r === 'function')?.();
        return true;
      };
    }
  };
  const restore = (): void => {
    streams.forEach((s, i) => {
      const original = originals[i];
      if (original !== undefined) s.write = original;
    });
  };
  capture();
  const lines = (): Record<string, unknown>[] =>
    captured
      .join('')
      .split('\n')
      .filter((line) => line.trim().startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  let stopped = false;
  return {
    text: () => captured.join(''),
    lines,
    logLines: () => lines().filter((l) => !('_aws' in l)),
    emf: () => lines().filter((l): l is Emf => '_aws' in l),
    pause: (run) => {
      restore();
      try {
        return run();
      } finally {
        capture();
      }
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      restore();
      recordOutput(captured.join(''));
    },
  };
}
