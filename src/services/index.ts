export { LocalServices, type LocalServicesOptions } from './local-services.js';
export { ServiceNumbers, type ServiceSpec } from './service-numbers.js';
export { servicesFromConfig } from './services-from-config.js';
