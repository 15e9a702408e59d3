import { packageConfig } from '../../scripts/tsup-package.ts';

export default packageConfig();
