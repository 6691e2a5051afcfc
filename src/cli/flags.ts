/**
 * The option helpers several commands share: a repeatable flag's list, the `--json` flag, a `--platform`
 * value and KEY=VALUE pairs. A command's own flags stay in its module.
 */
import { Option } from "commander";
import { BerthError } from "../errors.ts";
import { type Platform, parsePlatform } from "../oci/platform.ts";

/** Commander's parser of a repeatable flag: each use adds its value to the list (given with no default). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--json`: print `what` (the result, the list…) as JSON instead of the text for people. */
export function jsonOption(what = "the result"): Option {
  return new Option("--json", `print ${what} as JSON`);
}

/** A `--platform` value, parsed; undefined when the flag was not given (or given empty). */
export function platformOf(value: string | undefined): Platform | undefined {
  return value ? parsePlatform(value) : undefined;
}

/** `{ platform }` for an options object when `--platform` was given, else nothing. */
export function withPlatform(value: string | undefined): { platform?: Platform } {
  const platform = platformOf(value);
  return platform ? { platform } : {};
}

/** One KEY=VALUE of `flag` (the key not empty; the value may be). */
export function keyValue(value: string, flag: string): [string, string] {
  const i = value.indexOf("=");
  if (i <= 0) throw new BerthError("USAGE", `${flag} ${JSON.stringify(value)} must be KEY=VALUE`);
  return [value.slice(0, i), value.slice(i + 1)];
}

/** Every KEY=VALUE of a repeatable `flag` as a record (a later key wins). */
export function keyValues(values: readonly string[], flag: string): Record<string, string> {
  return Object.fromEntries(values.map((v) => keyValue(v, flag)));
}
