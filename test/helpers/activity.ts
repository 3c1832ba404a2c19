import { MockActivityEnvironment } from '@temporalio/testing';

/** Run one activity function in a mock activity context, keeping its types. */
export function runActivity<A, R>(
  fn: (input: A) => Promise<R>,
  input: A,
  env = new MockActivityEnvironment(),
): Promise<R> {
  return env.run(fn, input) as Promise<R>;
}
