import type { BlobEvent } from "../oci/sink.ts";
import { formatBytes, type Output, shortDigest } from "./output.ts";

interface Row {
  digest: string;
  size: number;
  bytes: number;
  state: "copying" | "done" | "exists" | "mounted";
  started: number;
}

/**
 * Shows blob transfers: on a terminal a live table (bytes, rate, reused or mounted), redrawn at most every
 * 100 ms; otherwise one plain line per finished blob; nothing with --quiet.
 */
export class BlobProgress {
  readonly #out: Output;
  readonly #rows = new Map<string, Row>();
  #drawn = 0;
  #last = 0;
  readonly #now: () => number;

  constructor(out: Output, now: () => number = Date.now) {
    this.#out = out;
    this.#now = now;
  }

  get live(): boolean {
    return !this.#out.quiet && this.#out.stderr.isTTY === true;
  }

  readonly onBlob = (event: BlobEvent): void => {
    if (this.#out.quiet) return;
    const { digest, size } = event.descriptor;
    let row = this.#rows.get(digest);
    if (!row) {
      row = { digest, size, bytes: 0, state: "copying", started: this.#now() };
      this.#rows.set(digest, row);
    }
    if (event.type === "progress") row.bytes = event.bytes;
    if (event.type === "done") {
      row.state = event.how === "written" ? "done" : event.how;
      if (event.how === "written") row.bytes = size;
      if (!this.live) this.#out.stderr.write(`${this.#line(row)}\n`);
    }
    if (this.live) this.#draw(event.type !== "progress");
  };

  #line(row: Row): string {
    const id = shortDigest(row.digest);
    switch (row.state) {
      case "exists":
        return `Blob ${id} already present, skipped`;
      case "mounted":
        return `Blob ${id} mounted from another repository`;
      case "done":
        return `Blob ${id} done (${formatBytes(row.size)})`;
      default: {
        const secs = Math.max((this.#now() - row.started) / 1000, 0.001);
        const pct = row.size > 0 ? Math.floor((row.bytes / row.size) * 100) : 100;
        return `Blob ${id} ${formatBytes(row.bytes)} / ${formatBytes(row.size)} (${pct}%) ${formatBytes(row.bytes / secs)}/s`;
      }
    }
  }

  #draw(force: boolean): void {
    const now = this.#now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const lines = [...this.#rows.values()].map((r) => this.#line(r));
    let s = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : "";
    for (const l of lines) s += `\x1b[2K${l}\n`;
    this.#drawn = lines.length;
    this.#out.stderr.write(s);
  }
}
