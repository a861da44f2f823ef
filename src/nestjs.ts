// The NestJS entry (`redfence/nestjs`): kept apart from `redfence` so that only NestJS users load
// @nestjs/common. The decorators themselves (DistributedLock, LeaderOnly, currentLock) are in `redfence`.
export { RedfenceModule, type RedfenceModuleOptions } from './decorators/redfence-module.js';
