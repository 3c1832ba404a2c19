/** Progress reports from a worker thread, at most one per `every` units done. */
export function throttled(progress: (done: number) => void, every: number): (done: number) => void {
  let last = 0;
  return (k) => {
    if (k - last >= every) {
      last = k;
      progress(k);
    }
  };
}
