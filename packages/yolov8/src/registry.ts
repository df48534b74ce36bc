/**
 * The module registry: YAML module names -> `ModuleSpec`s (the plugin interface of `@ablate/core`).
 *
 * Built-in modules (Conv, C2f, SPPF, Concat, Upsample, Detect, ...) come from this package as the
 * plugin `@ablate/yolov8`; attention packages are handed in by the caller with `use(plugin)` (the
 * assembler never imports them). Each spec declares how its channels are inferred, so there is no
 * hard-coded set of module names as in Ultralytics' parse_model.
 */
import type { ModulePlugin, ModuleSpec } from '@ablate/core';

/** Optional extras a spec of this package may declare (plugins need none of them). */
export interface YoloModuleSpec extends ModuleSpec {
  /** The type printed in summaries, as Ultralytics prints it (`ultralytics.nn.modules.conv.Conv`). Default: `name`. */
  typeName?: string;
  /**
   * The module takes the depth-scaled repeats in its args (C2f: `args.insert(2, n)`) and is built once.
   * Otherwise a row with repeats n > 1 builds n copies in a Sequential, as parse_model does.
   */
  repeatsInArgs?: boolean;
  /** The module takes an `{attn: Name, args: [...]}` mapping arg: a module built inside it (C2f, Bottleneck). */
  acceptsInner?: boolean;
  /** Channels the inner module sees, from the resolved constructor args (C2f: the Bottleneck width). */
  innerChannels?(args: readonly unknown[]): number;
}

export interface RegisteredModule {
  spec: YoloModuleSpec;
  /** The plugin that provided it. */
  pluginId: string;
}

export class ModuleRegistry {
  private readonly byName = new Map<string, RegisteredModule>();
  private readonly canonical: RegisteredModule[] = [];
  private readonly pluginIds: string[] = [];

  constructor(plugins: readonly ModulePlugin[] = []) {
    for (const p of plugins) this.use(p);
  }

  /** Adds every module of a plugin. Throws on a name or alias that is already taken. */
  use(plugin: ModulePlugin): this {
    if (!plugin || typeof plugin.id !== 'string' || !Array.isArray(plugin.modules)) {
      throw new Error(`ModuleRegistry.use: expected a ModulePlugin {id, modules}, got ${JSON.stringify(plugin)}`);
    }
    if (this.pluginIds.includes(plugin.id)) throw new Error(`ModuleRegistry.use: plugin "${plugin.id}" is already registered`);
    const staged = new Map<string, RegisteredModule>();
    for (const spec of plugin.modules) {
      if (!spec?.name || typeof spec.channels !== 'function' || typeof spec.build !== 'function') {
        throw new Error(`ModuleRegistry.use: plugin "${plugin.id}" has a module without name/channels/build`);
      }
      const entry: RegisteredModule = { spec, pluginId: plugin.id };
      for (const n of [spec.name, ...(spec.aliases ?? [])]) {
        const prev = this.byName.get(n) ?? staged.get(n);
        if (prev) {
          throw new Error(
            `ModuleRegistry.use: module name "${n}" of plugin "${plugin.id}" is already taken by ${prev.spec.name} of "${prev.pluginId}"`,
          );
        }
        staged.set(n, entry);
      }
    }
    for (const [n, e] of staged) this.byName.set(n, e);
    for (const spec of plugin.modules) this.canonical.push(this.byName.get(spec.name) as RegisteredModule);
    this.pluginIds.push(plugin.id);
    return this;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The entry for a name or alias. Throws naming the known modules; `where` says where the name was read. */
  get(name: string, where?: string): RegisteredModule {
    const e = this.byName.get(name);
    if (!e) {
      throw new Error(`Unknown module "${name}"${where ? ` in ${where}` : ''}; known: ${this.names().join(', ')}`);
    }
    return e;
  }

  /** Canonical names, in registration order (aliases not included). */
  names(): string[] {
    return this.canonical.map((e) => e.spec.name);
  }

  /** Every accepted name (canonical names and aliases). */
  allNames(): string[] {
    return [...this.byName.keys()];
  }

  /** Canonical name for a name or alias (undefined when unknown). */
  canonicalName(name: string): string | undefined {
    return this.byName.get(name)?.spec.name;
  }

  plugins(): string[] {
    return [...this.pluginIds];
  }
}
