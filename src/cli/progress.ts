import cliProgress from 'cli-progress';
import type { ProgressFn } from '../guest/index.ts';

/** A progress bar on `stream` while it is a terminal; nothing at all when output is piped or captured. */
export interface ProgressBar {
  update: ProgressFn;
  stop(): void;
}

/** cli-progress's bar, started on the first update (the total is known then), cleared when done. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar | null {
  if (!stream.isTTY) return null;
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% {value}/{total}`,
    clearOnComplete: true,
    hideCursor: true,
    barsize: 30,
  });
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
