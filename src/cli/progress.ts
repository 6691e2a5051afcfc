import type { Descriptor } from "../oci/descriptor.ts";
import type { BlobEvent } from "../oci/sink.ts";
import type { TransferReporter } from "../transport/context.ts";
import { formatDuration } from "../util/progress.ts";
import { formatBytes, type Output, shortDigest } from "./output.ts";

/**
 * A line at least this often in a log that is not a terminal (CI): a transfer or a phase that prints
 * nothing for longer gets a heartbeat line with what it has done so far. README: "Progress".
 */
const HEARTBEAT_MS = 5000;
/** A terminal is redrawn at most this often (and at every blob that starts or ends). */
const REDRAW_MS = 100;

interface Row {
  digest: string;
  size: number;
  bytes: number;
  state: "copying" | "done" | "exists" | "mounted";
  started: number;
  ended?: number;
}

/** What a transfer's callers pass down to copy/save/load (`...progress.hooks`). */
export interface TransferHooks {
  onBlob: (event: BlobEvent) => void;
  onPlan: (blobs: readonly Descriptor[]) => void;
}

/** The terminal stream a live display draws on (a tty.WriteStream has these). */
type Tty = Output["stderr"] & { rows?: number; on?: (e: "resize", fn: () => void) => unknown };

/**
 * Shows blob transfers (pull, push, copy, load, save) on stderr, as docker, skopeo and crane users expect:
 * - on a terminal, a live display redrawn in place: one line per blob in flight (bytes, size, percent, rate),
 *   finished ones collapsed when the terminal is short, and a total line (bytes of all blobs, rate, ETA); it
 *   never takes more rows than the terminal has minus one, nor a line wider than it (so nothing wraps), and
 *   is redrawn at the new size when the terminal is resized;
 * - anywhere else (a file, a pipe, a CI log), plain lines and no escape codes: one per finished blob, and a
 *   heartbeat with the bytes so far when nothing was printed for HEARTBEAT_MS;
 * - with --quiet, nothing.
 * `finish` ends with one line: the blobs, their total size, the time taken and the rate.
 */
export class TransferProgress implements TransferReporter {
  readonly #out: Output;
  readonly #now: () => number;
  readonly #rows = new Map<string, Row>();
  /** Every blob the transfers said they would move (a load copies image after image). */
  readonly #planned = new Map<string, number>();
  #started: number | undefined;
  /** The lengths of the lines drawn last. */
  #drawn: number[] = [];
  #lastDraw = 0;
  #lastLine: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  readonly #onResize = () => this.#draw(true);

  constructor(out: Output, o: { now?: () => number } = {}) {
    this.#out = out;
    this.#now = o.now ?? Date.now;
    this.#lastLine = this.#now();
  }

  /** Whether the display is redrawn in place (a terminal, not --quiet). */
  get live(): boolean {
    return !this.#out.quiet && this.#out.stderr.isTTY === true;
  }

  readonly onPlan = (blobs: readonly Descriptor[]): void => {
    if (this.#out.quiet || this.#closed) return;
    for (const b of blobs) this.#planned.set(b.digest, b.size);
    this.#start();
  };

  readonly hooks: TransferHooks = { onPlan: this.onPlan, onBlob: (event) => this.onBlob(event) };

  readonly onBlob = (event: BlobEvent): void => {
    if (this.#out.quiet || this.#closed) return;
    this.#start();
    const { digest, size } = event.descriptor;
    let row = this.#rows.get(digest);
    if (!row) {
      row = { digest, size, bytes: 0, state: "copying", started: this.#now() };
      this.#rows.set(digest, row);
    }
    if (event.type === "start") {
      row.state = "copying";
      row.bytes = 0;
      row.started = this.#now();
      delete row.ended;
    }
    if (event.type === "progress") row.bytes = event.bytes;
    if (event.type === "done") {
      row.state = event.how === "written" ? "done" : event.how;
      row.bytes = event.how === "written" ? size : 0;
      row.ended = this.#now();
      if (!this.live) this.#print(this.#rowLine(row));
    }
    if (this.live) this.#draw(event.type !== "progress");
  };

  /** The last line: blobs, total size, time, rate (and what was skipped); the live display goes first. */
  finish(verb: string): void {
    if (this.#out.quiet) return;
    this.#stop();
    const rows = [...this.#rows.values()];
    const moved = rows.filter((r) => r.state === "done");
    const bytes = moved.reduce((n, r) => n + r.size, 0);
    const ms = this.#now() - (this.#started ?? this.#now());
    const skipped = [
      count(rows.filter((r) => r.state === "exists").length, "already there"),
      count(rows.filter((r) => r.state === "mounted").length, "mounted"),
    ].filter(Boolean);
    const rate = ms > 0 && bytes > 0 ? `, ${formatBytes(Math.round((bytes / ms) * 1000))}/s` : "";
    const parts = `${plural(moved.length, "blob")}, ${formatBytes(bytes)} in ${formatDuration(ms)}${rate}`;
    this.#out.stderr.write(`${verb}: ${parts}${skipped.length ? ` (${skipped.join(", ")})` : ""}\n`);
  }

  /** Stop drawing (a failed transfer: the error follows the display). */
  close(): void {
    this.#stop();
  }

  #start(): void {
    if (this.#started !== undefined) return;
    this.#started = this.#now();
    this.#lastLine = this.#started;
    if (this.live) (this.#out.stderr as Tty).on?.("resize", this.#onResize);
    // every second: a terminal's display is redrawn (a stalled blob's rate and ETA move on); a log's
    // heartbeat is checked, so no gap in it exceeds HEARTBEAT_MS by more than that
    this.#timer = setInterval(() => (this.live ? this.#draw(false) : this.#heartbeat()), 1000);
    this.#timer.unref?.();
  }

  #stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    const tty = this.#out.stderr as Tty & { off?: (e: "resize", fn: () => void) => unknown };
    tty.off?.("resize", this.#onResize);
    if (this.live && this.#drawn.length) {
      const { height, width } = this.#size();
      this.#out.stderr.write(`${this.#up(width, height)}\x1b[J`);
    }
    this.#drawn = [];
  }

  #print(line: string): void {
    this.#lastLine = this.#now();
    this.#out.stderr.write(`${line}\n`);
  }

  #heartbeat(): void {
    if (this.#closed || this.#now() - this.#lastLine < HEARTBEAT_MS) return;
    const copying = [...this.#rows.values()].filter((r) => r.state === "copying");
    const blobs = copying.map(
      (r) => `${shortDigest(r.digest)} ${formatBytes(r.bytes)}/${formatBytes(r.size)}`,
    );
    this.#print(`${this.#totalLine()}${blobs.length ? `; ${blobs.join(", ")}` : ""}`);
  }

  /** Bytes of all blobs so far against the total to move, the rate and the ETA. */
  #totalLine(): string {
    const rows = [...this.#rows.values()];
    const skipped = rows.filter((r) => r.state === "exists" || r.state === "mounted");
    const all = new Map(this.#planned);
    for (const r of rows) all.set(r.digest, r.size);
    const seen = [...all.values()].reduce((n, size) => n + size, 0);
    const skippedBytes = skipped.reduce((n, r) => n + r.size, 0);
    const total = seen - skippedBytes;
    const bytes = rows.reduce((n, r) => n + r.bytes, 0);
    const ms = this.#now() - (this.#started ?? this.#now());
    const rate = ms > 0 ? (bytes / ms) * 1000 : 0;
    const done = rows.filter((r) => r.state !== "copying").length;
    const pct = total > 0 ? ` (${Math.min(100, Math.floor((bytes / total) * 100))}%)` : "";
    let line = `Total ${formatBytes(bytes)} / ${formatBytes(Math.max(total, bytes))}${pct}`;
    line += `, ${done} of ${all.size} blobs done, ${formatBytes(Math.round(rate))}/s, ${formatDuration(ms)}`;
    if (rate > 0 && total > bytes) line += `, ETA ${formatDuration(((total - bytes) / rate) * 1000)}`;
    return line;
  }

  #rowLine(row: Row): string {
    const id = shortDigest(row.digest);
    switch (row.state) {
      case "exists":
        return `Blob ${id} already present, skipped`;
      case "mounted":
        return `Blob ${id} mounted from another repository`;
      case "done":
        return `Blob ${id} done (${formatBytes(row.size)} in ${formatDuration((row.ended ?? this.#now()) - row.started)})`;
      default: {
        const ms = Math.max(this.#now() - row.started, 1);
        const pct = row.size > 0 ? Math.floor((row.bytes / row.size) * 100) : 100;
        return `Blob ${id} ${formatBytes(row.bytes)} / ${formatBytes(row.size)} (${pct}%) ${formatBytes(Math.round((row.bytes / ms) * 1000))}/s`;
      }
    }
  }

  /** The lines of the live display, at most `height` of them: finished blobs, blobs in flight, the total. */
  #lines(height: number): string[] {
    const total = this.#totalLine();
    const room = height - 1;
    if (room <= 0) return [total];
    const rows = [...this.#rows.values()];
    const copying = rows.filter((r) => r.state === "copying");
    const finished = rows.filter((r) => r.state !== "copying");
    const lines: string[] = [];
    // finished blobs give way first (the newest stay, the rest become one line) ...
    const free = room - copying.length;
    if (free > 0 && finished.length) {
      if (finished.length <= free) lines.push(...finished.map((r) => this.#rowLine(r)));
      else {
        const keep = finished.slice(finished.length - (free - 1));
        lines.push(`${finished.length - keep.length} blobs finished`, ...keep.map((r) => this.#rowLine(r)));
      }
    }
    // ... then blobs in flight are cut, with a line saying how many more there are
    const left = room - lines.length;
    if (copying.length <= left) lines.push(...copying.map((r) => this.#rowLine(r)));
    else {
      const keep = copying.slice(0, left - 1);
      lines.push(...keep.map((r) => this.#rowLine(r)));
      lines.push(`${keep.length ? "… and " : ""}${copying.length - keep.length} more blobs in flight`);
    }
    lines.push(total);
    return lines;
  }

  /** Cursor up over what was drawn last (lines a narrowed terminal wrapped count double), at most `max` rows. */
  #up(width: number, max: number): string {
    const n = this.#drawn.reduce((a, len) => a + Math.max(1, Math.ceil(len / width)), 0);
    return n > 0 ? `\r\x1b[${Math.min(n, max)}A` : "\r";
  }

  #size(): { height: number; width: number } {
    const tty = this.#out.stderr as Tty;
    return { height: Math.max(1, (tty.rows || 24) - 1), width: Math.max(10, tty.columns || 80) };
  }

  #draw(force: boolean): void {
    const now = this.#now();
    if (this.#closed || (!force && now - this.#lastDraw < REDRAW_MS)) return;
    this.#lastDraw = now;
    const { height, width } = this.#size();
    const lines = this.#lines(height).map((l) => (l.length >= width ? `${l.slice(0, width - 2)}…` : l));
    let s = `${this.#drawn.length ? this.#up(width, height) : ""}\x1b[J`;
    for (const l of lines) s += `${l}\n`;
    this.#drawn = lines.map((l) => l.length);
    this.#out.stderr.write(s);
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function count(n: number, what: string): string {
  return n > 0 ? `${n} ${what}` : "";
}

/**
 * A build's heartbeat in a log that is not a terminal: when nothing was written for HEARTBEAT_MS (a RUN step
 * or a buildpack working silently), a line says what is still running and for how long. Lines written
 * through `note` are what it watches; the phase is the last `===> …` or `[stage …] STEP …` line.
 */
export class BuildHeartbeat {
  readonly #out: Output;
  readonly #now: () => number;
  #last: number;
  #phase: string | undefined;
  #phaseStarted: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(out: Output, o: { now?: () => number } = {}) {
    this.#out = out;
    this.#now = o.now ?? Date.now;
    this.#last = this.#now();
    this.#phaseStarted = this.#last;
    if (!out.quiet && out.stderr.isTTY !== true) {
      this.#timer = setInterval(() => this.#beat(), 1000);
      this.#timer.unref?.();
    }
  }

  /** Something was written (a line of the build's, or a chunk of a step's output). */
  note(text: string | Buffer): void {
    this.#last = this.#now();
    if (typeof text !== "string") return;
    const phase = text.match(/^(===> .+|\[stage \d+\/\d+\] STEP .+)$/m)?.[1];
    if (phase) {
      this.#phase = phase;
      this.#phaseStarted = this.#last;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #beat(): void {
    const now = this.#now();
    if (now - this.#last < HEARTBEAT_MS || this.#phase === undefined) return;
    this.#out.stderr.write(`Still running: ${this.#phase} (${formatDuration(now - this.#phaseStarted)})\n`);
    this.#last = now;
  }
}
