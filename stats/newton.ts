/**
 * The damped Newton ascent shared by the logistic fits (stats/logistic-fit.ts): maximum
 * likelihood (IRLS) and Firth's penalised likelihood differ only in their objective, their step
 * and their acceptance and convergence rules, which they pass in.
 *
 * Each iteration: δ = step() at the current β (null when the information matrix is singular);
 * trial β + δ, halving δ until `improves(objective(trial), objective(β), half)` or `maxHalvings`
 * halvings have been tried; then β ← trial and stop when `converged(δ)` (with δ as last
 * halved). When no halving improves, the ML fit takes the last trial anyway
 * (`acceptUnimproved`, R glm's convention) and Firth stops (`stalled`: no ascent left at
 * double precision). `stopWhenUnmoved` ends the halving early once β + δ == β in every
 * coordinate. References: Nocedal & Wright (2006) Numerical Optimization §3.1 (backtracking);
 * McCullagh & Nelder (1989) §2.5 (IRLS).
 */

export interface NewtonRules {
  maxIter: number;
  maxHalvings: number;
  acceptUnimproved: boolean;
  stopWhenUnmoved: boolean;
  /** The Newton step at the current β (the model state is at β), or null if singular. */
  step(iteration: number): Float64Array | null;
  /** The objective at `b`; leaves the model state (η, μ, w, …) at `b`. */
  objective(b: Float64Array): number;
  improves(next: number, current: number, half: number): boolean;
  converged(delta: Float64Array): boolean;
}

export interface NewtonOutcome {
  outcome: 'converged' | 'max_iter' | 'singular' | 'stalled';
  iterations: number;
  /** The objective at the final β. */
  objective: number;
}

/** Run the ascent from `beta` (updated in place; `trial` is scratch of the same length). */
export function newtonAscent(
  beta: Float64Array,
  trial: Float64Array,
  objective: number,
  rules: NewtonRules,
): NewtonOutcome {
  const p = beta.length;
  let current = objective;
  let iter = 0;
  while (iter < rules.maxIter) {
    iter++;
    const delta = rules.step(iter);
    if (!delta) return { outcome: 'singular', iterations: iter, objective: current };
    let next = Number.NaN;
    let improved = false;
    for (let half = 0; half <= rules.maxHalvings; half++) {
      let moved = false;
      for (let j = 0; j < p; j++) {
        trial[j] = beta[j] + delta[j];
        if (trial[j] !== beta[j]) moved = true;
      }
      if (rules.stopWhenUnmoved && !moved && half > 0) break;
      next = rules.objective(trial);
      if (rules.improves(next, current, half)) {
        improved = true;
        break;
      }
      for (let j = 0; j < p; j++) delta[j] /= 2;
    }
    if (!improved && !rules.acceptUnimproved)
      return { outcome: 'stalled', iterations: iter, objective: current };
    beta.set(trial);
    current = next;
    if (rules.converged(delta)) return { outcome: 'converged', iterations: iter, objective: current };
  }
  return { outcome: 'max_iter', iterations: iter, objective: current };
}

/** Every |δ_j| ≤ tol·(1 + |β_j|): the relative step test of R's glm and PLINK2. */
export function smallStep(delta: Float64Array, beta: Float64Array, tol: number): boolean {
  for (let j = 0; j < beta.length; j++) if (Math.abs(delta[j]) > tol * (1 + Math.abs(beta[j]))) return false;
  return true;
}
