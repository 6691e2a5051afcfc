/**
 * Go's answers to glob questions: test/helpers/glob-oracle/main.go (path.Match, filepath.Match, moby/patternmatcher
 * and its ignorefile, v0.6.0 as BuildKit v0.26 vendors them), built by scripts/glob-oracle.sh on first use and
 * cached between runs, asked all the questions at once.
 */
import { askGoOracle } from "./go-oracle.ts";

export interface Answer {
  match: boolean;
  bad: boolean;
  /** filepath.Match's answer where it differs from path.Match's. */
  filepath?: boolean;
}

/** `pattern`: for "ignorefile", a .dockerignore's text. */
export interface Question {
  dialect: "path" | "patternmatcher" | "ignorefile";
  pattern: string;
  name: string;
}

export async function globOracle(questions: Question[]): Promise<Answer[]> {
  return JSON.parse(await askGoOracle("glob-oracle", JSON.stringify(questions))) as Answer[];
}
