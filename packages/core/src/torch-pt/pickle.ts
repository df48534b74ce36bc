/**
 * A pickle reader that never executes anything: Python's pickle protocols 0-5 (the opcode subset that
 * `torch.save` and ordinary objects use) evaluated into plain JavaScript values. A GLOBAL is only a
 * name (`PyGlobal`); REDUCE / NEWOBJ / INST / OBJ of a callable the caller does not handle in
 * `reduce` make a `PyObject` recording the name and the arguments; nothing is imported or called.
 * Reference: Python's Lib/pickle.py and Lib/pickletools.py (the opcode table), CPython 3.11.
 *
 * Values: None -> null; bool; int -> number (bigint beyond 2^53); float -> number; str -> string;
 * bytes -> Uint8Array; list -> array; tuple -> PyTuple; dict -> PyDict (a Map; keys as they come);
 * set/frozenset -> PySet.
 *
 * Status: EXT1/EXT2/EXT4 (the copyreg extension registry) and out-of-band buffers (protocol 5
 * NEXT_BUFFER / READONLY_BUFFER) are refused with an error; torch never writes them.
 */

export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** A global reference (`module.name`): a name only, never resolved. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object made by a callable the reader does not know: its class/callable name, arguments, state. */
export class PyObject {
  /** BUILD's state (usually the instance `__dict__`). */
  state: unknown = undefined;
  /** Items set on a dict subclass (SETITEM[S]) or appended to a list subclass (APPEND[S]). */
  readonly dictItems = new Map<unknown, unknown>();
  readonly listItems: unknown[] = [];
  constructor(
    readonly cls: PyGlobal,
    readonly args: unknown[],
    /** How it was made: REDUCE of a callable, NEWOBJ of a class, ... */
    readonly how: 'reduce' | 'newobj' | 'inst',
  ) {}
}

export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

export class PyDict extends Map<unknown, unknown> {}

export class PySet {
  constructor(readonly items: unknown[]) {}
}

export interface PickleHooks {
  /** BINPERSID / PERSID: the persistent id (torch: ('storage', type, key, location, numel)). */
  persistentLoad?(pid: unknown): unknown;
  /**
   * REDUCE of `callable(*args)`: return a value to use, or undefined to make a PyObject (never executed).
   */
  reduce?(callable: PyGlobal, args: unknown[]): unknown;
  /** An inert object of `cls` was made (NEWOBJ / INST / OBJ; also REDUCE when `reduce` left it). */
  onObject?(cls: PyGlobal): void;
}

const MARK = Symbol('mark');

/** Safety limits: a malicious file gets an error, not an exhausted process. */
const MAX_STACK = 1_000_000;
const MAX_MEMO = 10_000_000;

/** Unpickles `bytes`. Throws PickleError naming the opcode and byte offset on anything malformed. */
export function unpickle(bytes: Uint8Array, hooks: PickleHooks = {}): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder('utf-8', { fatal: false });
  const latin1 = new TextDecoder('latin1');
  let pos = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (msg: string): never => {
    throw new PickleError(`pickle: ${msg} (at byte ${pos} of ${bytes.length})`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated: ${n} more byte(s) needed`);
  };
  const u8 = () => {
    need(1);
    return bytes[pos++];
  };
  const u16 = () => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated: a text argument has no end of line');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: unknown) => {
    if (stack.length >= MAX_STACK) fail('stack too deep');
    stack.push(v);
  };
  const pop = (): unknown => {
    if (!stack.length) fail('stack underflow');
    const v = stack.pop();
    if (v === MARK) fail('unexpected MARK on the stack');
    return v;
  };
  const top = (): unknown => {
    if (!stack.length) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) fail('MARK expected but none is open');
    stack = prev as unknown[];
    return items;
  };
  const memoPut = (k: number, v: unknown) => {
    if (memo.size >= MAX_MEMO && !memo.has(k)) fail('memo too large');
    memo.set(k, v);
  };
  const memoGet = (k: number) => {
    if (!memo.has(k)) fail(`memo key ${k} was never stored`);
    return memo.get(k);
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const asGlobal = (v: unknown, what: string): PyGlobal => {
    if (!(v instanceof PyGlobal)) fail(`${what} expects a global (class or function) name, got ${describe(v)}`);
    return v as PyGlobal;
  };
  const setItems = (target: unknown, kv: unknown[]) => {
    if (kv.length % 2) fail('SETITEMS with an odd number of items');
    const map = target instanceof Map ? target : target instanceof PyObject ? target.dictItems : null;
    if (!map) fail(`SETITEM on ${describe(target)}`);
    for (let i = 0; i < kv.length; i += 2) (map as Map<unknown, unknown>).set(kv[i], kv[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) target.listItems.push(...items);
    else if (target instanceof PySet) target.items.push(...items);
    else fail(`APPEND on ${describe(target)}`);
  };
  const call = (callable: PyGlobal, args: unknown[], how: PyObject['how']): unknown => {
    if (how === 'reduce') {
      const r = hooks.reduce?.(callable, args);
      if (r !== undefined) return r;
    }
    hooks.onObject?.(callable);
    return new PyObject(callable, args, how);
  };

  for (;;) {
    if (pos >= bytes.length) fail('truncated: no STOP opcode');
    const at = pos;
    const op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported pickle protocol');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x7d: // EMPTY_DICT
        push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x8f: // EMPTY_SET
        push(new PySet([]));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x91: // FROZENSET
        push(new PySet(popMark()));
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memoPut(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, top());
        break;
      case 0x70: // PUT
        memoPut(Number.parseInt(line(), 10), top());
        break;
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x67: // GET
        push(memoGet(Number.parseInt(line(), 10)));
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(signedLE(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        push(signedLE(take(n)));
        break;
      }
      case 0x49: {
        // INT (text; 00 / 01 are False / True)
        const s = line();
        push(s === '00' ? false : s === '01' ? true : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: // LONG (text)
        push(Number.parseInt(line().replace(/L$/, ''), 10));
        break;
      case 0x47: {
        // BINFLOAT (big-endian double)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x46: // FLOAT (text)
        push(Number.parseFloat(line()));
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text.decode(take(u8())));
        break;
      case 0x58: // BINUNICODE
        push(text.decode(take(u32())));
        break;
      case 0x8d: // BINUNICODE8
        push(text.decode(take(u64())));
        break;
      case 0x55: // SHORT_BINSTRING
        push(latin1.decode(take(u8())));
        break;
      case 0x54: {
        // BINSTRING
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        push(latin1.decode(take(n)));
        break;
      }
      case 0x56: // UNICODE (raw-unicode-escape text line)
        push(line());
        break;
      case 0x53: // STRING (quoted text line)
        push(line().replace(/^(['"])(.*)\1$/, '$2'));
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        push(take(u32()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        push(take(u64()).slice());
        break;
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = line();
        push(new PyGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL expects two strings');
        push(new PyGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = asGlobal(pop(), 'REDUCE');
        if (!(args instanceof PyTuple)) fail(`REDUCE expects an argument tuple, got ${describe(args)}`);
        push(call(callable, (args as PyTuple).items, 'reduce'));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = asGlobal(pop(), 'NEWOBJ');
        push(call(cls, args instanceof PyTuple ? args.items : [], 'newobj'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        const cls = asGlobal(pop(), 'NEWOBJ_EX');
        push(call(cls, args instanceof PyTuple ? args.items : [], 'newobj'));
        break;
      }
      case 0x69: {
        // INST: module\nname\n, args from the mark
        const module = line();
        const name = line();
        push(call(new PyGlobal(module, name), popMark(), 'inst'));
        break;
      }
      case 0x6f: {
        // OBJ: cls and args from the mark
        const items = popMark();
        const cls = asGlobal(items.shift(), 'OBJ');
        push(call(cls, items, 'inst'));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        // anything else (a tensor, a dict): the state is not needed for weights
        break;
      }
      case 0x51: // BINPERSID
        push(hooks.persistentLoad ? hooks.persistentLoad(pop()) : fail('a persistent id (BINPERSID) without a loader'));
        break;
      case 0x50: // PERSID
        push(hooks.persistentLoad ? hooks.persistentLoad(line()) : fail('a persistent id (PERSID) without a loader'));
        break;
      case 0x30: // POP
        if (stack.length && stack[stack.length - 1] === MARK) stack.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        pos = at;
        fail('the copyreg extension registry (EXT1/EXT2/EXT4) is not supported');
        break;
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        pos = at;
        fail('out-of-band buffers (protocol 5) are not supported');
        break;
      default:
        pos = at;
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

/** A short description of a value for messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return v.qualified;
  if (v instanceof PyObject) return `an object of ${v.cls.qualified}`;
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  return typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : String(v);
}
