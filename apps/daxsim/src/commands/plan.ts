import type { Command } from '../command.js';
import { planCommandImpl } from '../planner.js';

export const planCommand: Command = planCommandImpl;
