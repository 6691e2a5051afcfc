/** The tar format, shared by the layer engine and the archive code: header blocks, PAX records, GNU names. */
export { decodeLongName, GNU_LONG_LINK, GNU_LONG_NAME } from "./gnu.ts";
export {
  BLOCK,
  type DecodedHeader,
  decodeHeader,
  encodeHeader,
  fitsOctal,
  type HeaderProblem,
  headerPath,
  isZeroBlock,
  type NumericField,
  padding,
  type RawHeader,
  splitUstarName,
  truncateBytes,
} from "./header.ts";
export { type DecodedPax, decodePax, encodePax, encodePaxRecord, type PaxRecords } from "./pax.ts";
