import { z } from 'zod';
import { strictObject } from '../schema-kit.js';

/**
 * What a firewall takes in one file, from the vendors' published quotas (README "Firewall capacity"):
 * the entries a rule set, group or list may hold, whether each address family counts on its own, and a byte cap.
 */
export interface FileLimit {
  readonly maxEntries: number;
  /** Each family has its own maxEntries (an AWS security group counts IPv4 and IPv6 rules apart). */
  readonly perFamily: boolean;
  readonly maxBytes?: number;
  /** The preset the limit came from, for messages ("aws-security-group"). */
  readonly preset?: LimitPreset;
}

export const LIMIT_PRESETS = {
  'aws-security-group': { maxEntries: 60, perFamily: true },
  'azure-nsg-rule': { maxEntries: 4_000, perFamily: false },
  'azure-firewall-ip-group': { maxEntries: 5_000, perFamily: false },
  // A customer-managed prefix list's size is chosen at creation (at most 1,000), so the config must say it.
  'aws-prefix-list': { maxEntries: 1_000, perFamily: false },
} as const satisfies Record<string, Omit<FileLimit, 'preset'>>;

export type LimitPreset = keyof typeof LIMIT_PRESETS;
const PRESET_NAMES = Object.keys(LIMIT_PRESETS) as [LimitPreset, ...LimitPreset[]];
const presetName = z.enum(PRESET_NAMES, { error: `must be one of ${PRESET_NAMES.map((p) => `"${p}"`).join(', ')}` });

const PREFIX_LIST_SIZE =
  'an "aws-prefix-list" limit needs the max entries the list was created with: {"preset": "aws-prefix-list", "maxEntries": N}';

const maxEntries = z.int().min(1, 'must be at least 1').max(1_000_000);

const limitObject = strictObject({
  preset: presetName.optional(),
  maxEntries: maxEntries.optional(),
  perFamily: z.boolean().optional(),
  maxBytes: z.int().min(1, 'must be at least 1').optional(),
}).transform((limit, ctx): FileLimit => {
  const preset = limit.preset ? LIMIT_PRESETS[limit.preset] : undefined;
  if (limit.preset === 'aws-prefix-list' && limit.maxEntries === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['maxEntries'],
      message: 'an "aws-prefix-list" limit needs the max entries the list was created with',
    });
    return z.NEVER;
  }
  if (preset && limit.maxEntries !== undefined && limit.maxEntries > preset.maxEntries) {
    ctx.addIssue({ code: 'custom', path: ['maxEntries'], message: `must be at most ${preset.maxEntries} for "${limit.preset}"` });
    return z.NEVER;
  }
  const entries = limit.maxEntries ?? preset?.maxEntries;
  if (entries === undefined) {
    ctx.addIssue({ code: 'custom', path: ['maxEntries'], message: 'give maxEntries, or a preset' });
    return z.NEVER;
  }
  return {
    maxEntries: entries,
    perFamily: limit.perFamily ?? preset?.perFamily ?? false,
    ...(limit.maxBytes !== undefined ? { maxBytes: limit.maxBytes } : {}),
    ...(limit.preset ? { preset: limit.preset } : {}),
  };
});

/** A file's `limit`: a preset's name, or an object with maxEntries (and optionally a preset, perFamily, maxBytes). */
export const fileLimit = z
  .union(
    [
      presetName.transform((name, ctx): FileLimit => {
        if (name === 'aws-prefix-list') {
          ctx.addIssue({ code: 'custom', message: PREFIX_LIST_SIZE });
          return z.NEVER;
        }
        return { ...LIMIT_PRESETS[name], preset: name };
      }),
      limitObject,
    ],
    {
      // A preset's own complaint ("aws-prefix-list" needs its size) says more than "none of the alternatives".
      error: (issue) =>
        issue.code === 'invalid_union'
          ? (issue.errors.flat().find((inner) => inner.code === 'custom')?.message ??
            `must be a preset (${PRESET_NAMES.map((p) => `"${p}"`).join(', ')}) or an object with maxEntries`)
          : undefined,
    },
  )
  .meta({
    description:
      'The most entries the firewall takes from this file (counted as the file holds them); over it, the file is not proposed and the run reports capacity-exceeded.',
  });

/** The widest covering prefix the renderer may write when a file would not fit otherwise (only when asked). */
export const fileFit = strictObject({
  widenTo: z.int().min(8, 'must be /8 or narrower (at least 8)').max(32).optional(),
  widenTo6: z.int().min(8, 'must be /8 or narrower (at least 8)').max(128).optional(),
}).meta({
  description:
    'Let the file hold covering supernets no wider than /widenTo (IPv4) or /widenTo6 (IPv6), chosen to add the fewest addresses, only as far as needed to fit the limit.',
});

export const DEFAULT_HEADROOM_WARN = 0.9;
/** Optional rather than defaulted, so a file without the key parses as it did before (DEFAULT_HEADROOM_WARN applies). */
export const headroomWarn = z.number().gt(0).max(1).optional().meta({
  description: 'Warn (capacity-headroom) when the file holds this share of its limit or more.',
});
