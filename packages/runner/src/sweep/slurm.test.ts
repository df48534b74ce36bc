import { describe, expect, it } from 'vitest';
import { slurmScript } from './slurm.js';

describe('slurmScript', () => {
  it('is an sbatch array script with one task per queued trial, each running one queue worker', () => {
    const s = slurmScript({
      sweep: 'dat-positions',
      queue: 'redis://head:6379/2',
      tasks: 63,
      repoRoot: '/home/me/my ablate',
      threads: 4,
      workerArgs: ['--backend', 'tensorflow', '--checkpoints', '/shared/ckpt'],
      command: 'pnpm sweep experiments/dat-positions.yaml --queue redis://head:6379/2 --slurm-script w.sh',
    });
    const lines = s.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines).toContain('#SBATCH --array=1-63');
    expect(lines).toContain('#SBATCH --job-name=ablate-dat-positions');
    expect(lines).toContain('#SBATCH --cpus-per-task=4');
    expect(lines).toContain('#SBATCH --output=ablate-worker-%A_%a.log');
    expect(lines).toContain("cd '/home/me/my ablate'");
    expect(lines).toContain('pnpm worker --queue redis://head:6379/2 --once --threads 4 --backend tensorflow --checkpoints /shared/ckpt');
    expect(s).toMatch(/# Written by: pnpm sweep experiments\/dat-positions\.yaml/);
    // The #SBATCH lines come before the first command (sbatch stops reading them there).
    const firstCommand = lines.findIndex((l) => l && !l.startsWith('#'));
    expect(lines.slice(firstCommand).some((l) => l.startsWith('#SBATCH'))).toBe(false);
    expect(s.endsWith('\n')).toBe(true);
    expect(slurmScript({ sweep: 's', queue: 'redis://h', tasks: 0, repoRoot: '/r', threads: 1 })).toMatch(/--array=1-1\n/);
  });
});
