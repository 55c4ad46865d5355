/**
 * A compact description of Lens panels, saved searches and dashboards, turned into Kibana saved objects
 * in the shape Kibana's own exports have (import format of Kibana 8.9+, see MIGRATION below).
 * Every panel and search filters on its dataset so it never shows other data.
 */
import { createHash } from 'node:crypto';

export const DATA_VIEW_ID = 'encedo_hem-data-view';
export const DATA_VIEW_TITLE = 'logs-encedo_hem.*';
export const SECURITY_TAG_ID = 'encedo_hem-tag-security-solution';
/** Security > Dashboards lists the dashboards that carry a tag with exactly this name. */
export const SECURITY_TAG_NAME = 'Security Solution';

/**
 * `typeMigrationVersion` per saved object type: the newest migration each object's shape already has.
 * Kibana refuses to import an object whose version is newer than the last migration it knows, so the
 * highest of these (lens 8.9.0: the metric formatter migration) sets the minimum Kibana version, 8.9.0.
 * `coreMigrationVersion` 8.8.0 is the release that introduced `typeMigrationVersion`.
 */
export const MIGRATION = {
  core: '8.8.0',
  'index-pattern': '8.0.0',
  tag: '8.0.0',
  search: '8.0.0',
  lens: '8.9.0',
  dashboard: '8.7.0',
} as const;
export const MINIMUM_KIBANA = '8.9.0';

/** Field types as mapped; decides the Lens `dataType` of a column. */
export type FieldType = 'keyword' | 'number' | 'date' | 'boolean';

export type Column =
  | { kind: 'date'; field: string }
  /** Top values, always ranked by the panel's count column (Lens cannot rank by a last value). */
  | { kind: 'terms'; field: string; size?: number; label?: string }
  | { kind: 'count'; label?: string }
  /** `max`/`min` also work on dates (type `date`); `sum`/`average` only on numbers. */
  | { kind: 'metric'; op: 'max' | 'min' | 'sum' | 'average'; field: string; type?: 'number' | 'date'; label?: string }
  /**
   * The value in the newest document. `exists`: skip documents without the field (what Lens does by
   * default); leave it off where a missing value is itself the news (e.g. no file in progress).
   */
  | { kind: 'last'; field: string; type: FieldType; label?: string; exists?: boolean };

export interface PanelSpec {
  readonly id: string;
  readonly title: string;
  /** What the panel shows, for the README. */
  readonly about: string;
  readonly dataset: 'encedo_hem.audit' | 'encedo_hem.integrity';
  /** KQL narrowing the panel further (besides the dataset filter). */
  readonly query?: string;
  readonly chart: 'bar' | 'table' | 'metric' | 'donut';
  readonly columns: readonly Column[];
  /** Tables: the label of the column the rows are sorted by (descending). */
  readonly sortBy?: string;
  readonly width?: number;
  readonly height?: number;
}

export interface DashboardSpec {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly panels: readonly PanelSpec[];
  /** Ids of tag objects. */
  readonly tags?: readonly string[];
}

export interface SearchSpec {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly dataset: 'encedo_hem.audit' | 'encedo_hem.integrity';
  readonly query?: string;
  readonly columns: readonly string[];
}

const LAYER = 'layer1';
const DATA_TYPE: Record<FieldType, string> = { keyword: 'string', number: 'number', date: 'date', boolean: 'boolean' };

const isBucket = (c: Column) => c.kind === 'date' || c.kind === 'terms';

/** `countId`: the count column that ranks every terms column. */
function columnState(c: Column, countId: string | undefined, table: boolean): Record<string, unknown> {
  switch (c.kind) {
    case 'date':
      return {
        label: c.field,
        dataType: 'date',
        operationType: 'date_histogram',
        sourceField: c.field,
        isBucketed: true,
        scale: 'interval',
        params: { interval: 'auto', includeEmptyRows: true, dropPartials: false },
      };
    case 'terms':
      if (!countId) throw new Error(`terms on ${c.field} needs a count column to rank by`);
      return {
        label: c.label ?? `Top values of ${c.field}`,
        ...(c.label ? { customLabel: true } : {}),
        dataType: 'string',
        operationType: 'terms',
        sourceField: c.field,
        isBucketed: true,
        scale: 'ordinal',
        params: {
          size: c.size ?? 10,
          orderBy: { type: 'column', columnId: countId },
          orderDirection: 'desc',
          // An "Other" row in a table reads like a device or a key; in a chart it keeps the totals right.
          otherBucket: !table,
          missingBucket: false,
          parentFormat: { id: 'terms' },
        },
      };
    case 'count':
      return {
        label: c.label ?? 'Count of records',
        ...(c.label ? { customLabel: true } : {}),
        dataType: 'number',
        operationType: 'count',
        sourceField: '___records___',
        isBucketed: false,
        scale: 'ratio',
        params: { emptyAsNull: true },
      };
    case 'metric': {
      const type = c.type ?? (c.field === '@timestamp' ? 'date' : 'number');
      if (type === 'date' && (c.op === 'sum' || c.op === 'average')) throw new Error(`${c.op} of date ${c.field}`);
      const opName = { max: 'Maximum', min: 'Minimum', sum: 'Sum', average: 'Average' }[c.op];
      return {
        label: c.label ?? `${opName} of ${c.field}`,
        ...(c.label ? { customLabel: true } : {}),
        dataType: type,
        operationType: c.op,
        sourceField: c.field,
        isBucketed: false,
        scale: 'ratio',
        params: type === 'number' ? { emptyAsNull: true } : {},
      };
    }
    case 'last':
      return {
        label: c.label ?? `Last value of ${c.field}`,
        ...(c.label ? { customLabel: true } : {}),
        dataType: DATA_TYPE[c.type],
        operationType: 'last_value',
        sourceField: c.field,
        isBucketed: false,
        scale: c.type === 'number' ? 'ratio' : 'ordinal',
        ...(c.exists ? { filter: { query: `${c.field} : *`, language: 'kuery' } } : {}),
        params: { sortField: '@timestamp', showArrayValues: false },
      };
  }
}

function visualization(spec: PanelSpec, ids: string[]): { type: string; state: Record<string, unknown> } {
  const bucketIds = ids.filter((_, i) => isBucket(spec.columns[i]!));
  const metricIds = ids.filter((_, i) => !isBucket(spec.columns[i]!));
  const visible = { x: true, yLeft: true, yRight: true };
  switch (spec.chart) {
    case 'bar': {
      const x = ids[spec.columns.findIndex((c) => c.kind === 'date')];
      const split = bucketIds.find((id) => id !== x);
      return {
        type: 'lnsXY',
        state: {
          legend: { isVisible: true, position: 'right' },
          valueLabels: 'hide',
          fittingFunction: 'None',
          axisTitlesVisibilitySettings: { x: false, yLeft: true, yRight: true },
          tickLabelsVisibilitySettings: visible,
          gridlinesVisibilitySettings: visible,
          yLeftExtent: { mode: 'full' },
          yRightExtent: { mode: 'full' },
          preferredSeriesType: 'bar_stacked',
          layers: [
            {
              layerId: LAYER,
              layerType: 'data',
              seriesType: 'bar_stacked',
              position: 'top',
              showGridlines: false,
              accessors: metricIds,
              ...(x ? { xAccessor: x } : {}),
              ...(split ? { splitAccessor: split } : {}),
            },
          ],
        },
      };
    }
    case 'table': {
      const sortIndex = spec.sortBy === undefined ? -1 : spec.columns.findIndex((c) => label(c) === spec.sortBy);
      if (spec.sortBy !== undefined && sortIndex < 0) throw new Error(`${spec.id}: no column ${spec.sortBy}`);
      return {
        type: 'lnsDatatable',
        state: {
          layerId: LAYER,
          layerType: 'data',
          columns: ids.map((columnId) => ({ columnId, isTransposed: false })),
          rowHeight: 'single',
          rowHeightLines: 1,
          ...(sortIndex >= 0 ? { sorting: { columnId: ids[sortIndex], direction: 'desc' } } : {}),
        },
      };
    }
    case 'metric':
      return { type: 'lnsMetric', state: { layerId: LAYER, layerType: 'data', metricAccessor: metricIds[0] } };
    case 'donut':
      return {
        type: 'lnsPie',
        state: {
          shape: 'donut',
          layers: [
            {
              layerId: LAYER,
              layerType: 'data',
              primaryGroups: bucketIds,
              metrics: metricIds,
              numberDisplay: 'percent',
              categoryDisplay: 'default',
              legendDisplay: 'default',
              nestedLegend: false,
            },
          ],
        },
      };
  }
}

function label(c: Column): string | undefined {
  return c.kind === 'date' ? undefined : c.label;
}

/** A phrase filter on one field, in the shape Kibana stores, pointing at the data view by reference. */
export function phraseFilter(
  field: string,
  value: string | boolean,
  refName: string,
  negate = false,
): Record<string, unknown> {
  return {
    meta: {
      alias: null,
      disabled: false,
      negate,
      key: field,
      params: { query: value },
      type: 'phrase',
      indexRefName: refName,
    },
    query: { match_phrase: { [field]: value } },
    $state: { store: 'appState' },
  };
}

/**
 * Lens column order: top values first, then the date histogram, then the metrics. Top values before the
 * histogram rank the values over the whole time range (the same series in every bar), as Lens does.
 */
export function columnOrder(columns: readonly Column[], ids: readonly string[]): string[] {
  const rank = (c: Column) => (c.kind === 'terms' ? 0 : c.kind === 'date' ? 1 : 2);
  return ids
    .map((id, i) => ({ id, r: rank(columns[i]!), i }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((e) => e.id);
}

export function lensObject(spec: PanelSpec): Record<string, unknown> {
  const ids = spec.columns.map((_, i) => `col${i}`);
  const countIndex = spec.columns.findIndex((c) => c.kind === 'count');
  const countId = countIndex >= 0 ? ids[countIndex] : undefined;
  const columns = Object.fromEntries(
    spec.columns.map((c, i) => [ids[i], columnState(c, countId, spec.chart === 'table')]),
  );
  const vis = visualization(spec, ids);
  const layer = { columns, columnOrder: columnOrder(spec.columns, ids), incompleteColumns: {} };
  return {
    type: 'lens',
    id: spec.id,
    attributes: {
      title: spec.title,
      description: spec.about,
      visualizationType: vis.type,
      state: {
        datasourceStates: { formBased: { layers: { [LAYER]: layer } } },
        visualization: vis.state,
        query: { query: spec.query ?? '', language: 'kuery' },
        filters: [phraseFilter('data_stream.dataset', spec.dataset, 'filter-index-pattern-0')],
        adHocDataViews: {},
        internalReferences: [],
      },
    },
    references: [
      { type: 'index-pattern', id: DATA_VIEW_ID, name: `indexpattern-datasource-layer-${LAYER}` },
      { type: 'index-pattern', id: DATA_VIEW_ID, name: 'filter-index-pattern-0' },
    ],
    coreMigrationVersion: MIGRATION.core,
    typeMigrationVersion: MIGRATION.lens,
  };
}

/** A stable UUID-shaped panel index (Kibana writes UUIDs there), derived from the panel's object id. */
export function panelIndex(objectId: string): string {
  const h = createHash('sha1').update(objectId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A panel's place on the 48-column dashboard grid (Kibana and OpenSearch Dashboards share the unit). */
export interface GridData {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
  /** The panel index. */
  readonly i: string;
}

/** Panels left to right in spec order, wrapping to a new row when the next one does not fit. */
export function panelGrid(panels: readonly PanelSpec[]): GridData[] {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  return panels.map((p) => {
    const w = p.width ?? 24;
    const h = p.height ?? 12;
    if (x + w > 48) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const grid = { x, y, w, h, i: panelIndex(p.id) };
    x += w;
    rowHeight = Math.max(rowHeight, h);
    return grid;
  });
}

/** Reference names of a search source's data view and filters (the same in OpenSearch Dashboards). */
export const SEARCH_INDEX_REF = 'kibanaSavedObjectMeta.searchSourceJSON.index';
export const searchFilterRef = (i: number) => `kibanaSavedObjectMeta.searchSourceJSON.filter[${i}].meta.index`;

/**
 * A dashboard of by-reference Lens panels, referenced as Kibana exports do: the panel carries
 * `panelRefName: panel_<panelIndex>`, the reference is named `<panelIndex>:panel_<panelIndex>`.
 * Tags are referenced as `tag-ref-<id>`.
 */
export function dashboardObject(spec: DashboardSpec): Record<string, unknown> {
  const grids = panelGrid(spec.panels);
  const panels = spec.panels.map((p, n) => {
    const grid = grids[n]!;
    const index = grid.i;
    return {
      version: MINIMUM_KIBANA,
      type: 'lens',
      gridData: grid,
      panelIndex: index,
      embeddableConfig: { enhancements: {} },
      panelRefName: `panel_${index}`,
      title: p.title,
    };
  });
  // Our own polling is hidden by default; the filter pill can be switched off in one click.
  const selfFilter = phraseFilter('encedo_hem.self_generated', true, searchFilterRef(0), true);
  return {
    type: 'dashboard',
    id: spec.id,
    attributes: {
      title: spec.title,
      description: spec.description,
      panelsJSON: JSON.stringify(panels),
      optionsJSON: JSON.stringify({
        useMargins: true,
        syncColors: false,
        syncCursor: true,
        syncTooltips: false,
        hidePanelTitles: false,
      }),
      timeRestore: false,
      version: 1,
      kibanaSavedObjectMeta: {
        searchSourceJSON: JSON.stringify({ query: { query: '', language: 'kuery' }, filter: [selfFilter] }),
      },
    },
    references: [
      ...spec.panels.map((p) => {
        const index = panelIndex(p.id);
        return { type: 'lens', id: p.id, name: `${index}:panel_${index}` };
      }),
      { type: 'index-pattern', id: DATA_VIEW_ID, name: searchFilterRef(0) },
      ...(spec.tags ?? []).map((id) => ({ type: 'tag', id, name: `tag-ref-${id}` })),
    ],
    coreMigrationVersion: MIGRATION.core,
    typeMigrationVersion: MIGRATION.dashboard,
  };
}

/** A Discover saved search on one dataset, newest first. */
export function searchObject(spec: SearchSpec): Record<string, unknown> {
  return {
    type: 'search',
    id: spec.id,
    attributes: {
      title: spec.title,
      description: spec.description,
      columns: [...spec.columns],
      sort: [['@timestamp', 'desc']],
      grid: {},
      hideChart: false,
      isTextBasedQuery: false,
      kibanaSavedObjectMeta: {
        searchSourceJSON: JSON.stringify({
          query: { query: spec.query ?? '', language: 'kuery' },
          filter: [phraseFilter('data_stream.dataset', spec.dataset, searchFilterRef(0))],
          indexRefName: SEARCH_INDEX_REF,
        }),
      },
    },
    references: [
      { type: 'index-pattern', id: DATA_VIEW_ID, name: SEARCH_INDEX_REF },
      { type: 'index-pattern', id: DATA_VIEW_ID, name: searchFilterRef(0) },
    ],
    coreMigrationVersion: MIGRATION.core,
    typeMigrationVersion: MIGRATION.search,
  };
}

export function tagObject(): Record<string, unknown> {
  return {
    type: 'tag',
    id: SECURITY_TAG_ID,
    attributes: {
      name: SECURITY_TAG_NAME,
      description: 'Lists the Encedo HEM dashboards under Security > Dashboards.',
      color: '#D36086',
    },
    references: [],
    coreMigrationVersion: MIGRATION.core,
    typeMigrationVersion: MIGRATION.tag,
  };
}

export function dataViewObject(): Record<string, unknown> {
  return {
    type: 'index-pattern',
    id: DATA_VIEW_ID,
    attributes: { title: DATA_VIEW_TITLE, name: 'Encedo HEM', timeFieldName: '@timestamp', allowNoIndex: true },
    references: [],
    coreMigrationVersion: MIGRATION.core,
    typeMigrationVersion: MIGRATION['index-pattern'],
  };
}
