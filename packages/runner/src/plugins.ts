/**
 * The attention plugins the runner hands to the YOLOv8 registry. This is the one place in the project
 * that lists them: the assembler itself never imports an attention package.
 */
import { plugin as a2 } from '@ablate/attn-a2';
import { plugin as cloformer } from '@ablate/attn-cloformer';
import { plugin as dat } from '@ablate/attn-dat';
import { plugin as fla } from '@ablate/attn-fla';
import { plugin as msdeform } from '@ablate/attn-msdeform';
import type { ModulePlugin } from '@ablate/core';

export const ATTENTION_PLUGINS: readonly ModulePlugin[] = [dat, msdeform, a2, cloformer, fla];
