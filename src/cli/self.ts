import { isSea } from "node:sea";

/**
 * The command line that runs this berth again (in a user namespace, as `berth run -d`'s supervisor): the
 * executable alone when berth is one (scripts/executable.ts; its code is inside it), else Node with its flags
 * and berth's script.
 */
export function selfCommand(): string[] {
  return isSea() ? [process.execPath] : [process.execPath, ...process.execArgv, process.argv[1]!];
}

/** This process's file when berth runs as its single executable, else undefined. */
export function runningExecutable(): string | undefined {
  return isSea() ? process.execPath : undefined;
}
