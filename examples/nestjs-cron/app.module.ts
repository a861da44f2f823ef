import { type DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { RedfenceModule } from '../../src/nestjs.js';
import { TasksService } from './tasks.service.js';

@Module({})
export class AppModule {
  /** The application on these Redis nodes (one Redlock; every instance uses the same nodes and prefix). */
  static forRoot(nodes: readonly string[], prefix: string): DynamicModule {
    return {
      module: AppModule,
      imports: [ScheduleModule.forRoot(), RedfenceModule.forRoot({ nodes, prefix })],
      providers: [TasksService],
    };
  }
}
