/**
 * scripts/lib/eager.ts: a bundle's top-level function declarations made parenthesised function expressions
 * (compiled with their chunk, so in Node's compile cache), only where nothing can tell the difference.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eagerBundle, eagerSource } from "../../../scripts/lib/eager.ts";

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-eager-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The module `source` evaluated from a file of its own: its exports. */
async function load(source: string): Promise<Record<string, unknown>> {
  const file = join(dir, `m${n++}.mjs`);
  await writeFile(file, source);
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** The module's exports before and after the rewrite, and the rewrite. */
async function both(source: string) {
  const r = eagerSource("m.js", source, false);
  return { before: await load(source), after: await load(r.text), r };
}

describe("eagerSource", () => {
  it("makes each top-level declaration a parenthesised expression of the same name, before other statements", () => {
    const r = eagerSource(
      "m.js",
      'import{a}from"./a.js";const x=f();function f(){return a}export{x,f};',
      false,
    );
    expect(r.text).toBe('import{a}from"./a.js";var f=(function f(){return a});\nconst x=f();export{x,f};');
    expect(r.eager).toBe(1);
  });

  it("parenthesises top-level arrow and function expressions, not async arrows, in any chunk", async () => {
    const source =
      "var a=(x)=>x+1,b=function(x){return x*2},c=async(x)=>x,d=((x)=>x);export const r=[a(1),b(2),a.name,b.name,c.name];";
    const wrapped =
      "var a=((x)=>x+1),b=(function(x){return x*2}),c=async(x)=>x,d=(((x)=>x));export const r=[a(1),b(2),a.name,b.name,c.name];";
    expect(eagerSource("m.js", source, false)).toEqual({ text: wrapped, eager: 3, kept: [] });
    expect(eagerSource("m.js", source, true).text).toBe(wrapped);
    expect((await load(wrapped)).r).toEqual((await load(source)).r);
  });

  it("keeps a call before the declaration's place working (the variable is set first)", async () => {
    const { before, after } = await both(
      "export const early=later(2);function later(n){return n*21}export const late=later(1);",
    );
    expect(after).toEqual(before);
    expect(after.early).toBe(42);
  });

  it("keeps generators, async functions, this, arguments, new.target, default parameters and names", async () => {
    const source = `function*gen(n){for(let i=0;i<n;i++)yield i}
async function later(x){await null;return x+1}
async function*agen(){yield 1;yield 2}
function args(){return [arguments.length,...arguments]}
function self(){return this===undefined?"undefined":this.tag}
function made(){if(new.target===undefined)return "called";this.made=true}
function dflt(a,b=a*2,c=arguments.length){return [a,b,c]}
function rec(n){return n===0?"done":rec(n-1)}
const collect=async()=>{const out=[];for await(const v of agen())out.push(v);return out};
export const results=async()=>[[...gen(3)],await later(1),await collect(),args(1,2,3),self(),self.call({tag:"t"}),made(),new made().made,dflt(1),dflt(1,5,9),rec(3),
  [gen,later,agen,args,self,made,dflt,rec].map(f=>[f.name,f.length,String(f).slice(0,20),Object.getPrototypeOf(f)===Function.prototype,typeof f.prototype])];`;
    const { before, after, r } = await both(source);
    expect(r.eager).toBe(8);
    const got = await (after.results as () => Promise<unknown>)();
    expect(got).toEqual(await (before.results as () => Promise<unknown>)());
    expect(got).toContainEqual([0, 1, 2]);
  });

  it("keeps the declaration of a function whose name is written (the expression's own name would not follow)", async () => {
    const source = 'function f(n){return n?f(n-1):"original"}const g=f;f=()=>"replaced";export const r=g(1);';
    const r = eagerSource("m.js", source, false);
    expect(r).toEqual({ text: source, eager: 0, kept: ["f is written"] });
    expect((await load(source)).r).toBe("replaced");
    // what the rewrite would have done: the recursive call sees the function itself
    expect((await load(source.replace(/^function f(.*?)\}/, "var f=(function f$1});"))).r).toBe("original");
  });

  it("counts updates, destructuring and for-in/of targets as writes, and leaves a chunk naming eval alone", () => {
    for (const w of ["f++;", "[f]=[1];", "({f}={f:1});", "for(f of [1]);", "for(f in {a:1});"]) {
      expect(eagerSource("m.js", `function f(){}${w}`, false).kept).toEqual(["f is written"]);
    }
    const evals = 'function f(){}export const r=eval("1");';
    expect(eagerSource("m.js", evals, false)).toEqual({ text: evals, eager: 0, kept: ["names eval"] });
  });
});

describe("chunks importing each other", () => {
  /** a imports b, b imports a and calls a's function while a has not run yet (b runs first). */
  const A = 'import{fromB}from"./b.js";function fromA(){return "a"}export const seen=fromB;export{fromA};';
  const B = 'import{fromA}from"./a.js";export const fromB=fromA();';

  it("leaves the chunks of a cycle, and one importing itself, as they are: the rewrite would break them", async () => {
    const sub = await mkdtemp(join(dir, "cycle-"));
    await writeFile(join(sub, "a.js"), A);
    await writeFile(join(sub, "b.js"), B);
    await writeFile(
      join(sub, "c.js"),
      'import{seen}from"./a.js";function c(){return seen}export const r=c();',
    );
    await writeFile(join(sub, "s.js"), 'import"./s.js";function s(){}export{s};');
    await writeFile(join(sub, "package.json"), '{"type":"module"}');
    const done = await eagerBundle(sub);
    expect(done.map((d) => [d.file, d.eager, d.kept]).sort()).toEqual([
      ["a.js", 0, ["in a cycle of static imports"]],
      ["b.js", 0, ["in a cycle of static imports"]],
      ["c.js", 1, []],
      ["s.js", 0, ["in a cycle of static imports"]],
    ]);
    expect(await readFile(join(sub, "a.js"), "utf8")).toBe(A);
    expect((await import(pathToFileURL(join(sub, "c.js")).href)).r).toBe("a");
    // a rewritten a.js: b runs first and finds fromA not yet set
    await writeFile(join(sub, "a2.js"), eagerSource("a2.js", A.replace("./b.js", "./b2.js"), false).text);
    await writeFile(join(sub, "b2.js"), B.replace("./a.js", "./a2.js"));
    await expect(import(pathToFileURL(join(sub, "a2.js")).href)).rejects.toThrow(TypeError);
  });
});
