/**
 * Sweep progress: on a terminal, cli-progress bars (trials overall, and per running trial its epochs
 * and its batches, with ETA); otherwise (CI, pipes, files) plain log lines: one per trial start/end and
 * one per epoch.
 */
import cliProgress from 'cli-progress';
import type { EpochMsg } from './protocol.js';

export interface Progress {
  plan(total: number, alreadyDone: number): void;
  log(line: string): void;
  trialStarted(slot: number, label: string, epochs: number, batches: number): void;
  batch(slot: number, epoch: number, batch: number, batches: number, loss: [number, number, number]): void;
  epoch(slot: number, label: string, r: EpochMsg, epochs: number): void;
  /** The slot's trial ended; `finished`: it counts as finished (false: interrupted, or trained with its FPS still to measure). */
  trialEnded(slot: number, finished?: boolean): void;
  stop(): void;
}

export const fmt = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);

export function epochLine(label: string, r: EpochMsg, epochs: number): string {
  return (
    `${label}  epoch ${r.epoch}/${epochs}  box ${fmt(r.boxLoss)} cls ${fmt(r.clsLoss)} dfl ${fmt(r.dflLoss)}  ` +
    `P ${fmt(r.precision)} R ${fmt(r.recall)} mAP50 ${fmt(r.map50)} mAP50-95 ${fmt(r.map50_95)}  ${fmt(r.seconds, 1)} s`
  );
}

export class PlainProgress implements Progress {
  constructor(private readonly write: (line: string) => void) {}
  private total = 0;
  private ended = 0;
  plan(total: number, alreadyDone: number): void {
    this.total = total;
    this.ended = alreadyDone;
  }
  log(line: string): void {
    this.write(line);
  }
  trialStarted(): void {}
  batch(): void {}
  epoch(_slot: number, label: string, r: EpochMsg, epochs: number): void {
    this.write(epochLine(label, r, epochs));
  }
  trialEnded(_slot: number, finished = true): void {
    if (!finished) return;
    this.ended++;
    this.write(`progress: ${this.ended}/${this.total} trials finished`);
  }
  stop(): void {}
}

export class BarProgress implements Progress {
  private readonly multi: cliProgress.MultiBar;
  private trials?: cliProgress.SingleBar;
  private readonly slots = new Map<number, { epochs: cliProgress.SingleBar; batches: cliProgress.SingleBar; label: string }>();

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.multi = new cliProgress.MultiBar(
      {
        stream,
        clearOnComplete: false,
        hideCursor: true,
        autopadding: true,
        etaBuffer: 20,
        format: '{label} {bar} {value}/{total} | ETA {eta_formatted} | {info}',
      },
      cliProgress.Presets.shades_classic,
    );
  }
  plan(total: number, alreadyDone: number): void {
    this.trials = this.multi.create(total, alreadyDone, { label: 'trials ', info: `${alreadyDone} already done` });
  }
  log(line: string): void {
    this.multi.log(`${line}\n`);
  }
  trialStarted(slot: number, label: string, epochs: number, batches: number): void {
    this.dropSlot(slot);
    this.slots.set(slot, {
      label,
      epochs: this.multi.create(epochs, 0, { label: ' epochs', info: label }),
      batches: this.multi.create(Math.max(1, batches), 0, { label: ' batch ', info: '' }),
    });
  }
  batch(slot: number, _epoch: number, batch: number, batches: number, loss: [number, number, number]): void {
    const s = this.slots.get(slot);
    if (!s) return;
    s.batches.setTotal(Math.max(1, batches));
    s.batches.update(batch, { info: `loss box ${fmt(loss[0])} cls ${fmt(loss[1])} dfl ${fmt(loss[2])}` });
  }
  epoch(slot: number, label: string, r: EpochMsg, epochs: number): void {
    const s = this.slots.get(slot);
    this.log(epochLine(label, r, epochs));
    if (!s) return;
    s.epochs.update(r.epoch, { info: `${s.label}  mAP50 ${fmt(r.map50)}` });
    // A new epoch: restart the batch bar (and its ETA).
    s.batches.start(s.batches.getTotal(), 0, { label: ' batch ', info: '' });
  }
  trialEnded(slot: number, finished = true): void {
    this.dropSlot(slot);
    if (finished) this.trials?.increment(1, { info: '' });
  }
  private dropSlot(slot: number): void {
    const s = this.slots.get(slot);
    if (!s) return;
    this.multi.remove(s.epochs);
    this.multi.remove(s.batches);
    this.slots.delete(slot);
  }
  stop(): void {
    for (const k of [...this.slots.keys()]) this.dropSlot(k);
    this.multi.stop();
  }
}
