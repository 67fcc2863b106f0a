// Preloaded with `node --import ./scripts/rss-probe.mjs ...`: on exit, writes the process's peak resident set
// size (bytes) to $DR_RSS_FILE. Used by the benchmark to measure dr's memory without instrumenting dr.
import { writeFileSync } from 'node:fs';

const file = process.env.DR_RSS_FILE;
if (file) {
  process.on('exit', () => {
    writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
  });
}
