import type { Client } from '@elastic/elasticsearch';
import { type EngineInfo, type SetupAction, type SetupOptions, detectEngine, setupEngine } from '../search/setup.js';
import { elasticsearchRest } from './rest.js';

export {
  type AssetKind,
  type EngineInfo,
  type EngineKind,
  FINAL_PIPELINE,
  POLICY_NAME,
  RETENTION_PLACEHOLDER,
  type SetupAction,
  SetupError,
  compareVersions,
  plannedAssets,
} from '../search/setup.js';

/** Installs or upgrades the templates, pipeline and lifecycle policy through the Elasticsearch client. */
export function setupCluster(
  client: Client,
  options: SetupOptions = {},
): Promise<{ engine: EngineInfo; actions: SetupAction[] }> {
  return setupEngine(elasticsearchRest(client), options);
}

/** Which engine the client talks to, and its cluster's id. */
export function detectClusterEngine(client: Client): Promise<EngineInfo> {
  return detectEngine(elasticsearchRest(client));
}
