// Peak resident memory while a promise runs, for tests that bound what an input may cost: RSS sampled every
// 2 ms, and the process's lifetime peak (getrusage) when it rose meanwhile, so that a short spike between two
// samples still counts.

/** Runs `work` and returns its result with the growth of peak RSS over the RSS before it, in MB. */
export async function peakRssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growthMb: number }> {
  const before = process.memoryUsage.rss();
  const lifetimeBefore = process.resourceUsage().maxRSS * 1024;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    const lifetimeAfter = process.resourceUsage().maxRSS * 1024;
    if (lifetimeAfter > lifetimeBefore) peak = Math.max(peak, lifetimeAfter);
    return { result, growthMb: (peak - before) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}
