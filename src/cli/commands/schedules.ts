import type { Command } from 'commander';
import type { Schedule } from '../api-types.js';
import { commandContext, printJson } from '../context.js';
import { renderTable } from '../table.js';

function describeTiming(schedule: Schedule): string | null {
  if (schedule.pattern) return schedule.tz ? `${schedule.pattern} (${schedule.tz})` : schedule.pattern;
  if (schedule.every !== null) return `every ${schedule.every / 1000} s`;
  return null;
}

export function registerSchedulesCommand(program: Command): void {
  program
    .command('schedules')
    .summary('list the job schedulers and their next runs')
    .description('List the BullMQ job schedulers, from GET /api/schedules.')
    .action(async (_options: unknown, command: Command) => {
      const context = commandContext(command);
      const schedules = await context.client.get<Schedule[]>('/api/schedules');
      if (context.json) return printJson(schedules);
      if (schedules.length === 0) return console.log('no job schedulers');

      const rows = schedules.map((schedule) => [schedule.id, schedule.queue, describeTiming(schedule), schedule.nextRun, schedule.calendar]);
      console.log(renderTable(['id', 'queue', 'pattern/every', 'next run', 'calendar'], rows));
    });
}
