// Containers: Sequential (a chain), ModuleList (indexed), ModuleDict (keyed). Children are
// registered under '0', '1', … or their keys, giving PyTorch's state-dict names.
import type { Tensor } from '../torch/index.js';
import { Module, type UnaryModule } from './module.js';

/** Applies its modules in order. Build from modules, or from a record of named modules. */
export class Sequential extends Module {
  #items: UnaryModule[] = [];

  constructor(...modules: UnaryModule[] | [Record<string, UnaryModule>]) {
    super();
    const first = modules[0];
    if (modules.length === 1 && !(first instanceof Module)) {
      for (const [name, m] of Object.entries(first as Record<string, UnaryModule>)) this.#push(name, m);
    } else {
      for (const m of modules as UnaryModule[]) this.append(m);
    }
  }

  #push(name: string, m: UnaryModule): void {
    this.add(name, m);
    this.#items.push(m);
  }

  append(m: UnaryModule): this {
    this.#push(String(this.#items.length), m);
    return this;
  }

  get length(): number {
    return this.#items.length;
  }

  /** The i-th module (negative counts from the end). */
  at(i: number): UnaryModule {
    const m = this.#items.at(i);
    if (!m) throw new RangeError(`Sequential: index ${i} out of range (length ${this.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<UnaryModule> {
    return this.#items[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.#items) y = m.forward(y);
    return y;
  }
}

/** An indexable list of submodules; it has no forward (iterate it in the parent's forward). */
export class ModuleList<M extends Module = Module> extends Module {
  #items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    this.extend(modules);
  }

  append(m: M): this {
    this.add(String(this.#items.length), m);
    this.#items.push(m);
    return this;
  }

  extend(modules: Iterable<M>): this {
    for (const m of modules) this.append(m);
    return this;
  }

  /** Inserts before index i and renumbers the keys, as PyTorch does. */
  insert(i: number, m: M): this {
    const items = [...this.#items];
    items.splice(i < 0 ? Math.max(0, items.length + i) : i, 0, m);
    this.clearModules();
    this.#items = [];
    return this.extend(items);
  }

  get length(): number {
    return this.#items.length;
  }

  at(i: number): M {
    const m = this.#items.at(i);
    if (!m) throw new RangeError(`ModuleList: index ${i} out of range (length ${this.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.#items[Symbol.iterator]();
  }

  map<R>(fn: (m: M, i: number) => R): R[] {
    return this.#items.map(fn);
  }
}

/** Submodules by string key, in insertion order; it has no forward. */
export class ModuleDict<M extends Module = Module> extends Module {
  #items = new Map<string, M>();

  constructor(modules: Record<string, M> | Iterable<[string, M]> = {}) {
    super();
    const entries = Symbol.iterator in modules ? (modules as Iterable<[string, M]>) : Object.entries(modules);
    for (const [k, m] of entries) this.set(k, m);
  }

  /** Adds or replaces (a replaced key keeps its position). */
  set(key: string, m: M): this {
    this.add(key, m);
    this.#items.set(key, m);
    return this;
  }

  get(key: string): M {
    const m = this.#items.get(key);
    if (!m) throw new Error(`ModuleDict: no module '${key}' (keys: ${[...this.#items.keys()].join(', ')})`);
    return m;
  }

  has(key: string): boolean {
    return this.#items.has(key);
  }

  get size(): number {
    return this.#items.size;
  }

  keys(): string[] {
    return [...this.#items.keys()];
  }
  values(): M[] {
    return [...this.#items.values()];
  }
  entries(): [string, M][] {
    return [...this.#items];
  }
  [Symbol.iterator](): Iterator<[string, M]> {
    return this.#items[Symbol.iterator]();
  }
}
