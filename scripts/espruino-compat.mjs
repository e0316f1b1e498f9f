// Static checker for built bundles: finds JavaScript that the real Espruino
// interpreter rejects or runs wrongly (see shared ESPRUINO.md). It parses the
// bundle with acorn and walks it with a small hand-written scope tracker,
// because several checks (globals, loop closures, no hoisting) need to know
// what each identifier refers to.
//
// Positions: `line` is 1-based, `column` is 1-based (editor style), counted in
// UTF-16 code units like acorn does.
import { parse } from "acorn";

const MAX_IN_ERROR = 20;
const MAX_NON_ASCII = 5;

// Default explanation per construct; some reports add a more specific one.
const WHY = {
  syntax: "Espruino cannot parse this",
  "non-ASCII": "the Espruino CLI mangles non-ASCII bytes on upload; write \\xNN escapes",
  "default parameter": "Espruino rejects default parameters",
  "rest parameter": "Espruino rejects rest parameters",
  spread: "Espruino rejects spread syntax",
  destructuring: "Espruino rejects destructuring",
  "computed key": "Espruino rejects computed keys",
  "optional chaining": "Espruino rejects optional chaining (?.)",
  "exponent operator": "Espruino rejects the ** operator",
  async: "Espruino has no async/await",
  generator: "Espruino has no generators",
  label: "labelled statements fail on Espruino",
  "tagged template": "tagged templates fail on Espruino",
  "unicode code point escape": "\\u{...} escapes fail on Espruino",
  "closure over loop binding": "Espruino gives no fresh let/const binding per loop iteration",
  "use before declaration": "Espruino does not hoist declarations",
  "extends Error": "subclassing Error fails on Espruino",
  "private field": "Espruino has no private names",
  "class field": "Espruino has no class fields (set useDefineForClassFields: false)",
  "class static block": "Espruino has no class static blocks",
  "missing built-in": "not present in Espruino",
  "reserved identifier": "Espruino rejects this name as an identifier",
  "regex flag": "Espruino supports only the g, i and m regex flags",
  "do without braces": "Espruino before 2v25 cannot parse do x;while(...) (2v20, the oldest the firmware runs on: Got ';' expected while); make the loop another kind",
  "regex construct": "Espruino matches it wrongly: its regular expressions get |, (?:...), a quantifier after a group and {n} wrong",
};

const MISSING_GLOBALS = new Set([
  "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "Symbol", "Proxy", "Reflect", "BigInt", "RangeError",
]);
const MISSING_STATICS = new Map([
  ["Number", new Set(["isInteger", "isNaN", "parseInt", "parseFloat"])],
  ["Math", new Set(["trunc"])],
  ["Array", new Set(["from"])],
  ["Object", new Set(["freeze"])],
  ["Promise", new Set(["race", "allSettled", "any"])],
]);
const MISSING_METHODS = new Set(["at", "lastIndexOf", "finally"]);
const RESERVED_NAMES = new Set(["of", "let", "static"]);
const ERROR_CLASSES = new Set([
  "Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError", "URIError",
  "AggregateError", "InternalError",
]);
const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
/**
 * The first construct in a regular expression's source that Espruino's engine matches wrongly (2v29: /^(a|b)$/
 * matched "ax", /^a|b$/ missed "xb", /^(ab)+$/ missed "abab", /^(ab)?c$/ missed "c", /a{2}/ missed "aa",
 * /^(?:a|b)$/ missed "a"), or null. Escapes and character classes are read past: [|] and \| are plain characters.
 */
export function regexTrouble(source) {
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    // An escape; \u{...} is reported as a code point escape, not as a quantifier here.
    if (c === "\\") i = source.startsWith("u{", i + 1) && source.indexOf("}", i) > i ? source.indexOf("}", i) : i + 1;
    else if (c === "[") {
      // To the class's closing ], past escapes (in JavaScript, unlike POSIX, [] is an empty class and [^] any character).
      for (i += source[i + 1] === "^" ? 2 : 1; i < source.length && source[i] !== "]"; i++) {
        if (source[i] === "\\") i++;
      }
    } else if (c === "|") return "| (alternation)";
    else if (c === "(" && source[i + 1] === "?") return "(?" + (source[i + 2] ?? "") + " (a group of that kind)";
    else if (c === ")" && /[*+?{]/.test(source[i + 1] ?? "")) return ")" + source[i + 1] + " (a quantifier on a group)";
    else if (c === "{" && /^\{\d+(,\d*)?\}/.test(source.slice(i))) return source.slice(i, source.indexOf("}", i) + 1) + " (a counted quantifier)";
  }
  return null;
}

// A backslash run of odd length followed by u{ is a real code point escape.
const CODE_POINT_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u\{/;

/**
 * @param {string} source
 * @param {string} [fileName]
 * @returns {{construct: string, line: number, column: number, message: string}[]}
 */
export function findEspruinoIncompatibilities(source, fileName = "bundle.js") {
  const lineStarts = computeLineStarts(source);
  /** @type {{offset: number, construct: string, line: number, column: number, message: string}[]} */
  const problems = [];

  /** Records a problem at a source offset. */
  function reportAt(offset, construct, detail = WHY[construct]) {
    const { line, column } = positionOf(lineStarts, offset);
    const message = `${fileName}:${line}:${column}: ${construct}: ${detail}`;
    problems.push({ offset, construct, line, column, message });
  }
  const report = (node, construct, detail) => reportAt(node.start, construct, detail);

  findNonAscii(source, reportAt);

  let ast;
  try {
    ast = parse(source, { ecmaVersion: "latest", sourceType: "script", locations: true });
  } catch (err) {
    if (!(err instanceof SyntaxError) || typeof err.pos !== "number") throw err;
    // acorn appends "(line:col)" to its message; our prefix already says where.
    reportAt(err.pos, "syntax", err.message.replace(/\s*\(\d+:\d+\)$/, ""));
  }
  if (ast) new Checker(source, report).run(ast);

  problems.sort((a, b) => a.offset - b.offset);
  return problems.map(({ construct, line, column, message }) => ({ construct, line, column, message }));
}

/**
 * Throws one Error listing the problems (the first 20 and a count), if any.
 * @param {string} source
 * @param {string} [fileName]
 */
export function assertEspruinoCompatible(source, fileName = "bundle.js") {
  const problems = findEspruinoIncompatibilities(source, fileName);
  if (problems.length === 0) return;
  const lines = problems.slice(0, MAX_IN_ERROR).map((p) => `  ${p.message}`);
  if (problems.length > MAX_IN_ERROR) lines.push(`  ... and ${problems.length - MAX_IN_ERROR} more`);
  const count = problems.length === 1 ? "1 construct" : `${problems.length} constructs`;
  const error = new Error(`${fileName}: ${count} Espruino cannot run:\n${lines.join("\n")}`);
  error.problems = problems;
  throw error;
}

// ---------------------------------------------------------------------------
// Positions and raw-text checks

function computeLineStarts(source) {
  // Same line terminators as acorn: \r\n, \n, \r, U+2028, U+2029.
  const starts = [0];
  const re = /\r\n?|[\n\u2028\u2029]/g;
  for (let m; (m = re.exec(source)); ) starts.push(m.index + m[0].length);
  return starts;
}

function positionOf(lineStarts, offset) {
  let lo = 0;
  let hi = lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineStarts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - lineStarts[lo] + 1 };
}

function findNonAscii(source, reportAt) {
  const re = /[^\x00-\x7f]/gu;
  const hits = [];
  let total = 0;
  for (let m; (m = re.exec(source)); total++) if (hits.length < MAX_NON_ASCII) hits.push(m);
  for (const m of hits) {
    const code = m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    const more = total > hits.length ? ` (${total} non-ASCII characters in all)` : "";
    reportAt(m.index, "non-ASCII", `U+${code}: ${WHY["non-ASCII"]}${more}`);
  }
}

// ---------------------------------------------------------------------------
// Scopes

class Scope {
  /**
   * @param {Scope | null} parent
   * @param {boolean} isFunction a var scope whose code runs later (function, program)
   * @param {boolean} inLoop a block scope inside a loop (no function in between)
   */
  constructor(parent, isFunction, inLoop) {
    this.parent = parent;
    this.isFunction = isFunction;
    this.inLoop = inLoop;
    this.node = null; // for function scopes: where the closure starts
    /** @type {Map<string, {kind: string, pos: number}>} */
    this.bindings = new Map();
  }
}

/** Identifier nodes bound by a pattern (params, declarators, catch). */
function patternIds(node, out = []) {
  if (!node) return out;
  switch (node.type) {
    case "Identifier": out.push(node); break;
    case "ObjectPattern":
      for (const p of node.properties) patternIds(p.type === "RestElement" ? p.argument : p.value, out);
      break;
    case "ArrayPattern": for (const e of node.elements) patternIds(e, out); break;
    case "AssignmentPattern": patternIds(node.left, out); break;
    case "RestElement": patternIds(node.argument, out); break;
  }
  return out;
}

function childNodes(node) {
  const out = [];
  for (const key in node) {
    if (key === "loc") continue;
    const value = node[key];
    if (Array.isArray(value)) {
      for (const v of value) if (v && typeof v.type === "string") out.push(v);
    } else if (value && typeof value.type === "string") out.push(value);
  }
  return out;
}

function propertyName(member) {
  if (!member.computed && member.property.type === "Identifier") return member.property.name;
  if (member.computed && member.property.type === "Literal" && typeof member.property.value === "string") {
    return member.property.value;
  }
  return null;
}

// ---------------------------------------------------------------------------
// The walker

class Checker {
  constructor(source, report) {
    this.source = source;
    this.report = report;
    /** @type {Scope | null} */
    this.scope = null;
    this.loopDepth = 0; // loops around the current point, up to the nearest function
    this.seenClosures = new Set(); // "closure start:name", to report each capture once
  }

  run(program) {
    this.withScope(new Scope(null, true, false), () => {
      this.hoistVars(program);
      this.hoistLexical(program.body);
      for (const s of program.body) this.visit(s);
    });
  }

  withScope(scope, fn) {
    const saved = this.scope;
    this.scope = scope;
    try { fn(); } finally { this.scope = saved; }
  }

  blockScope() {
    return new Scope(this.scope, false, this.loopDepth > 0);
  }

  declare(id, kind, pos = id.start) {
    if (RESERVED_NAMES.has(id.name)) this.report(id, "reserved identifier", `"${id.name}" cannot be a binding name on Espruino`);
    const existing = this.scope.bindings.get(id.name);
    if (existing) {
      existing.pos = Math.min(existing.pos, pos);
      if (kind === "function") existing.kind = kind;
    } else {
      this.scope.bindings.set(id.name, { kind, pos });
    }
  }

  /** `var` declarations anywhere in this function/program body, but not in nested functions. */
  hoistVars(node) {
    for (const child of childNodes(node)) {
      if (FUNCTIONS.has(child.type) || child.type === "StaticBlock" || child.type === "PropertyDefinition") continue;
      if (child.type === "VariableDeclaration" && child.kind === "var") {
        for (const d of child.declarations) for (const id of patternIds(d.id)) this.declare(id, "var", d.start);
      }
      this.hoistVars(child);
    }
  }

  /** let/const/class/function declared directly in a statement list. */
  hoistLexical(statements) {
    for (const s of statements) {
      if (s.type === "VariableDeclaration" && s.kind !== "var") {
        for (const d of s.declarations) for (const id of patternIds(d.id)) this.declare(id, s.kind);
      } else if (s.type === "FunctionDeclaration" && s.id) {
        this.declare(s.id, "function", s.start);
      } else if (s.type === "ClassDeclaration" && s.id) {
        this.declare(s.id, "class");
      }
    }
  }

  lookup(name) {
    for (let s = this.scope; s; s = s.parent) {
      const b = s.bindings.get(name);
      if (b) return b;
    }
    return null;
  }

  isGlobal(name) {
    return this.lookup(name) === null;
  }

  /** An identifier in expression position. */
  reference(id, { inTypeof = false } = {}) {
    const { name } = id;
    if (RESERVED_NAMES.has(name)) this.report(id, "reserved identifier", `"${name}" cannot be an identifier on Espruino`);
    this.checkIdentifierEscape(id);

    // Resolve, noting the outermost function crossed on the way (the closure).
    let closure = null;
    let binding = null;
    let scope = this.scope;
    for (; scope; scope = scope.parent) {
      binding = scope.bindings.get(name);
      if (binding) break;
      if (scope.isFunction) closure = scope.node;
    }

    if (!binding) {
      // `typeof Map` is the one harmless way to mention a missing global.
      if (MISSING_GLOBALS.has(name) && !inTypeof) this.report(id, "missing built-in", `${name} is not present in Espruino`);
      return;
    }
    if (closure && scope.inLoop && (binding.kind === "let" || binding.kind === "const")) {
      const key = `${closure.start}:${name}`;
      if (!this.seenClosures.has(key)) {
        this.seenClosures.add(key);
        this.report(id, "closure over loop binding",
          `a function created in a loop captures ${binding.kind} "${name}"; ${WHY["closure over loop binding"]}`);
      }
    }
    // Code outside nested functions runs now: Espruino has not seen the later declaration yet.
    if (!closure && id.start < binding.pos && (binding.kind === "var" || binding.kind === "function")) {
      this.report(id, "use before declaration",
        `${binding.kind} "${name}" is used before its declaration; ${WHY["use before declaration"]}`);
    }
  }

  checkIdentifierEscape(id) {
    if (id.end - id.start !== id.name.length && CODE_POINT_ESCAPE.test(this.source.slice(id.start, id.end))) {
      this.report(id, "unicode code point escape");
    }
  }

  /**
   * A binding or assignment target. `bind` mode declares nothing (hoisting did
   * that) but visits defaults; `assign` mode treats identifiers as references.
   */
  pattern(node, mode, insidePattern = false) {
    switch (node.type) {
      case "Identifier":
        if (mode === "assign") this.reference(node);
        else this.checkIdentifierEscape(node);
        return;
      case "ObjectPattern":
      case "ArrayPattern":
        // Report the outermost pattern only.
        if (!insidePattern) this.report(node, "destructuring");
        if (node.type === "ArrayPattern") {
          for (const e of node.elements) if (e) this.pattern(e, mode, true);
        } else {
          for (const p of node.properties) {
            if (p.type === "RestElement") { this.pattern(p.argument, mode, true); continue; }
            if (p.computed) this.visit(p.key);
            this.pattern(p.value, mode, true);
          }
        }
        return;
      case "AssignmentPattern":
        this.pattern(node.left, mode, insidePattern);
        this.visit(node.right);
        return;
      case "RestElement":
        this.pattern(node.argument, mode, insidePattern);
        return;
      default: // a member expression as an assignment target
        this.visit(node);
    }
  }

  /** Functions, arrows and methods. `at` is where to report async/generator. */
  fn(node, at = node) {
    if (node.async) this.report(at, "async");
    if (node.generator) this.report(at, "generator");
    const scope = new Scope(this.scope, true, false);
    scope.node = at;
    const savedLoops = this.loopDepth;
    this.loopDepth = 0;
    this.withScope(scope, () => {
      if (node.type === "FunctionExpression" && node.id) this.declare(node.id, "function", -1);
      for (const p of node.params) for (const id of patternIds(p)) this.declare(id, "param", -1);
      if (node.body.type === "BlockStatement") {
        this.hoistVars(node.body);
        this.hoistLexical(node.body.body);
      }
      for (const p of node.params) {
        if (p.type === "AssignmentPattern") this.report(p, "default parameter");
        if (p.type === "RestElement") this.report(p, "rest parameter");
        this.pattern(p, "bind");
      }
      if (node.body.type === "BlockStatement") for (const s of node.body.body) this.visit(s);
      else this.visit(node.body);
    });
    this.loopDepth = savedLoops;
  }

  /** Code that runs later, in its own var scope (field initializers, static blocks). */
  deferred(nodes, at) {
    const scope = new Scope(this.scope, true, false);
    scope.node = at;
    const savedLoops = this.loopDepth;
    this.loopDepth = 0;
    this.withScope(scope, () => {
      for (const n of nodes) this.hoistVars(n);
      if (at.type === "StaticBlock") this.hoistLexical(nodes);
      for (const n of nodes) this.visit(n);
    });
    this.loopDepth = savedLoops;
  }

  loop(fn) {
    this.loopDepth++;
    try { fn(); } finally { this.loopDepth--; }
  }

  /** for / for-in / for-of: a head scope for let/const, the body inside the loop. */
  forLoop(node) {
    const head = node.type === "ForStatement" ? node.init : node.left;
    const lexical = head && head.type === "VariableDeclaration" && head.kind !== "var";
    if (node.type === "ForOfStatement" && node.await) this.report(node, "async", "Espruino has no for await");
    // The iterated object is evaluated once, outside the per-iteration scope.
    if (node.type !== "ForStatement") this.visit(node.right);
    const run = () => this.loop(() => {
      if (head) {
        if (head.type === "VariableDeclaration") this.visit(head);
        else if (node.type === "ForStatement") this.visit(head);
        else this.pattern(head, "assign");
      }
      if (node.test) this.visit(node.test);
      if (node.update) this.visit(node.update);
      this.visit(node.body);
    });
    if (!lexical) return run();
    this.loopDepth++; // the head scope belongs to the loop
    const scope = this.blockScope();
    this.loopDepth--;
    this.withScope(scope, () => {
      for (const d of head.declarations) for (const id of patternIds(d.id)) this.declare(id, head.kind);
      run();
    });
  }

  cls(node) {
    if (node.superClass) {
      const sup = node.superClass;
      if (sup.type === "Identifier" && ERROR_CLASSES.has(sup.name) && this.isGlobal(sup.name)) {
        this.report(node, "extends Error", `class extends ${sup.name}: ${WHY["extends Error"]}`);
      }
      this.visit(sup);
    }
    const body = () => {
      for (const el of node.body.body) {
        if (el.type === "StaticBlock") {
          this.report(el, "class static block");
          this.deferred(el.body, el);
          continue;
        }
        this.key(el);
        if (el.type === "PropertyDefinition") {
          this.report(el, "class field");
          if (el.value) this.deferred([el.value], el);
        } else {
          this.fn(el.value, el);
        }
      }
    };
    if (node.type === "ClassExpression" && node.id) {
      this.withScope(this.blockScope(), () => { this.declare(node.id, "class"); body(); });
    } else {
      body();
    }
  }

  visit(node) {
    switch (node.type) {
      case "Identifier":
        return this.reference(node);

      case "FunctionDeclaration":
        if (node.id) this.checkIdentifierEscape(node.id);
        return this.fn(node);
      case "FunctionExpression":
      case "ArrowFunctionExpression":
        return this.fn(node);
      case "ClassDeclaration":
      case "ClassExpression":
        return this.cls(node);

      case "BlockStatement":
        return this.withScope(this.blockScope(), () => {
          this.hoistLexical(node.body);
          for (const s of node.body) this.visit(s);
        });
      case "StaticBlock":
        return this.deferred(node.body, node);
      case "SwitchStatement":
        this.visit(node.discriminant);
        return this.withScope(this.blockScope(), () => {
          for (const c of node.cases) this.hoistLexical(c.consequent);
          for (const c of node.cases) {
            if (c.test) this.visit(c.test);
            for (const s of c.consequent) this.visit(s);
          }
        });
      case "CatchClause":
        return this.withScope(this.blockScope(), () => {
          if (node.param) {
            for (const id of patternIds(node.param)) this.declare(id, "catch");
            this.pattern(node.param, "bind");
          }
          this.visit(node.body);
        });

      case "ForStatement":
      case "ForInStatement":
      case "ForOfStatement":
        return this.forLoop(node);
      case "DoWhileStatement":
        if (node.body.type !== "BlockStatement") this.report(node, "do without braces");
      // falls through
      case "WhileStatement":
        return this.loop(() => { this.visit(node.test); this.visit(node.body); });

      case "VariableDeclaration":
        for (const d of node.declarations) {
          this.pattern(d.id, "bind");
          if (d.init) this.visit(d.init);
        }
        return;
      case "AssignmentExpression":
        if (node.operator === "**=") this.report(node, "exponent operator");
        this.pattern(node.left, "assign");
        return this.visit(node.right);

      case "LabeledStatement":
        this.report(node, "label", `label "${node.label.name}": ${WHY.label}`);
        return this.visit(node.body);
      case "BreakStatement":
      case "ContinueStatement":
        return; // labels are reported at their statement

      case "MemberExpression":
        return this.member(node);
      case "NewExpression":
        this.regexCall(node);
        break;
      case "CallExpression":
        if (node.optional) this.optional(node.callee.end, node.arguments[0]?.start ?? node.end, node);
        this.regexCall(node);
        if (node.callee.type === "MemberExpression") {
          const name = propertyName(node.callee);
          if (name && MISSING_METHODS.has(name)) {
            this.report(node.callee.property, "missing built-in", `.${name}() is not present in Espruino`);
          }
        }
        break;
      case "Property": // in object literals; patterns go through pattern()
        this.key(node);
        if (node.method || node.kind !== "init") return this.fn(node.value, node);
        return this.visit(node.value);
      case "SpreadElement":
        this.report(node, "spread");
        break;

      case "BinaryExpression":
        if (node.operator === "**") this.report(node, "exponent operator");
        break;
      case "UnaryExpression":
        if (node.operator === "typeof" && node.argument.type === "Identifier") {
          return this.reference(node.argument, { inTypeof: true });
        }
        break;
      case "AwaitExpression":
        this.report(node, "async", "Espruino has no await");
        break;
      case "YieldExpression":
        this.report(node, "generator", "Espruino has no yield");
        break;
      case "TaggedTemplateExpression":
        this.report(node, "tagged template");
        break;
      case "TemplateElement":
        if (CODE_POINT_ESCAPE.test(node.value.raw)) this.report(node, "unicode code point escape");
        return;
      case "Literal":
        return this.literal(node);
      case "MetaProperty":
        return this.report(node, "syntax", `${node.meta.name}.${node.property.name}: Espruino cannot parse it`);
      case "PrivateIdentifier":
        return this.report(node, "private field", `#${node.name}: ${WHY["private field"]}`);
      case "PropertyDefinition":
      case "MethodDefinition":
        return; // handled in cls()
    }
    for (const child of childNodes(node)) this.visit(child);
  }

  /** Keys of object literal properties and class members. */
  key(node) {
    if (node.computed) {
      this.report(node.key, "computed key");
      this.visit(node.key);
    } else if (node.key.type === "PrivateIdentifier") {
      this.visit(node.key);
    } else if (node.key.type === "Literal") {
      this.literal(node.key); // only for its escapes; a literal key is no reference
    }
  }

  reportAt(offset, construct, detail) {
    this.report({ start: offset }, construct, detail);
  }

  /** Reports the `?.` token, which sits between `from` and `to`. */
  optional(from, to, node) {
    const at = this.source.indexOf("?.", from);
    this.reportAt(at >= 0 && at < to ? at : node.start, "optional chaining");
  }

  member(node) {
    if (node.optional) this.optional(node.object.end, node.property.start, node);
    const obj = node.object;
    const name = propertyName(node);
    if (name !== null && obj.type === "Identifier" && MISSING_STATICS.get(obj.name)?.has(name) && this.isGlobal(obj.name)) {
      this.report(node, "missing built-in", `${obj.name}.${name} is not present in Espruino`);
    }
    // Array.prototype.X is undefined on Espruino ([].X works).
    if (obj.type === "MemberExpression" && propertyName(obj) === "prototype" &&
        obj.object.type === "Identifier" && obj.object.name === "Array" && this.isGlobal("Array")) {
      this.report(node, "missing built-in", `Array.prototype.${name ?? "[...]"} is undefined in Espruino; use [].${name ?? "..."}`);
    }
    this.visit(obj);
    if (node.computed || node.property.type === "PrivateIdentifier") this.visit(node.property);
  }

  /** RegExp("...") and new RegExp("..."): the pattern is checked as a literal's is, where it is a plain string. */
  regexCall(node) {
    const [pattern] = node.arguments;
    if (node.callee.type !== "Identifier" || node.callee.name !== "RegExp" || !this.isGlobal("RegExp")) return;
    if (pattern?.type !== "Literal" || typeof pattern.value !== "string") return;
    const trouble = regexTrouble(pattern.value);
    if (trouble) this.report(node, "regex construct", `RegExp(${pattern.raw}) has ${trouble}: ${WHY["regex construct"]}`);
  }

  literal(node) {
    if (node.bigint !== undefined) {
      this.report(node, "missing built-in", "BigInt literals are not supported by Espruino");
    } else if (node.regex) {
      const bad = node.regex.flags.replace(/[gim]/g, "");
      if (bad) this.report(node, "regex flag", `/${node.regex.flags}: ${WHY["regex flag"]}`);
      if (CODE_POINT_ESCAPE.test(node.regex.pattern)) this.report(node, "unicode code point escape");
      const trouble = regexTrouble(node.regex.pattern);
      if (trouble) this.report(node, "regex construct", `/${node.regex.pattern}/ has ${trouble}: ${WHY["regex construct"]}`);
    } else if (typeof node.value === "string" && CODE_POINT_ESCAPE.test(node.raw)) {
      this.report(node, "unicode code point escape");
    }
  }
}
