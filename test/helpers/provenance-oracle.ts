/**
 * BuildKit's reading of a provenance attestation: test/helpers/provenance-oracle/main.go (BuildKit v0.26.2's
 * SLSA provenance and in-toto types, decoding with DisallowUnknownFields, and its purl.RefToPURL), built by
 * scripts/provenance-oracle.sh on first use and cached between runs.
 */
import { askGoOracle } from "./go-oracle.ts";

export interface OracleQuestion {
  /** An in-toto statement's bytes, decoded strictly. */
  statement?: Buffer;
  /** References to turn into package URLs, with an optional platform. */
  purls?: { ref: string; os?: string; architecture?: string; variant?: string }[];
}

export interface OracleAnswer {
  /** The statement as Go encodes it again after a strict decode. */
  statement?: {
    subject: { name: string; digest: Record<string, string> }[];
    predicate: Record<string, unknown>;
  };
  purls: string[];
  /** The statement as BuildKit's local and tar exporters write it (Go's json.MarshalIndent, two spaces). */
  indented?: string;
}

/** Ask the oracle; a statement BuildKit's types refuse rejects with Go's message. */
export async function provenanceOracle(q: OracleQuestion): Promise<OracleAnswer> {
  const input = JSON.stringify({
    ...(q.statement ? { statement: JSON.parse(q.statement.toString("utf8")) } : {}),
    purls: q.purls ?? [],
  });
  return JSON.parse(await askGoOracle("provenance-oracle", input)) as OracleAnswer;
}
