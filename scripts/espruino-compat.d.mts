/** Names of the constructs the checker reports. */
export type EspruinoConstruct =
  | "syntax"
  | "non-ASCII"
  | "default parameter"
  | "rest parameter"
  | "spread"
  | "destructuring"
  | "computed key"
  | "optional chaining"
  | "exponent operator"
  | "async"
  | "generator"
  | "label"
  | "tagged template"
  | "unicode code point escape"
  | "closure over loop binding"
  | "use before declaration"
  | "extends Error"
  | "private field"
  | "class field"
  | "class static block"
  | "missing built-in"
  | "reserved identifier"
  | "regex flag"
  | "do without braces"
  | "regex construct";

export interface EspruinoIncompatibility {
  construct: EspruinoConstruct;
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units. */
  column: number;
  /** `file:line:column: construct: explanation` */
  message: string;
}

/** Every construct in `source` that Espruino fails on, sorted by position. A parse error is reported as "syntax". */
export declare function findEspruinoIncompatibilities(source: string, fileName?: string): EspruinoIncompatibility[];

/** Throws one Error (with a `problems` property) listing the first 20 problems and their count, if there are any. */
export declare function assertEspruinoCompatible(source: string, fileName?: string): void;

/** The first construct in a regular expression's source that Espruino matches wrongly (|, (?:, a quantifier after a group, {n}), or null. */
export declare function regexTrouble(source: string): string | null;
