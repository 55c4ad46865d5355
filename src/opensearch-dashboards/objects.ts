/**
 * OpenSearch Dashboards saved objects, generated from the same dashboard spec as the Kibana ones
 * (src/kibana/dashboards.ts). OSD was forked from Kibana 7.10.2 and has no Lens, so every Lens panel becomes an
 * aggregation-based visualization (`visState`), in the shape OSD's own `_export` writes and `_import` reads:
 * `migrationVersion` per type, references by name, `kibanaSavedObjectMeta.searchSourceJSON`.
 *
 * Ids: the same as the Kibana objects. The two sets never share a store (Kibana cannot run on OpenSearch, OSD
 * cannot run on Elasticsearch 8+), within OSD the types differ (a panel is a `visualization`, not a `lens`), and
 * one id per spec entry keeps links, docs and tests the same for both.
 */
import { DASHBOARDS, SEARCHES } from '../kibana/dashboards.js';
import {
  type Column,
  DATA_VIEW_ID,
  DATA_VIEW_TITLE,
  type DashboardSpec,
  type PanelSpec,
  SEARCH_INDEX_REF,
  type SearchSpec,
  panelGrid,
  phraseFilter,
  searchFilterRef,
} from '../kibana/lens.js';

/**
 * `migrationVersion` per type: the newest migration OSD 2.x registers for it (visualization_migrations.ts,
 * dashboard_migrations.ts, search_migrations.ts, index_pattern_migrations.ts). The objects are written in that
 * shape, so OSD runs no migration on import; a version newer than OSD knows would be refused.
 */
export const OSD_MIGRATION = {
  'index-pattern': '7.6.0',
  visualization: '7.10.0',
  search: '7.9.3',
  dashboard: '7.9.3',
} as const;

/**
 * The oldest OpenSearch Dashboards the objects are made for. Their migration versions come from the Kibana
 * 7.10.2 fork, so any OSD since 1.0.0 imports them, but OSD 1.x refuses an OpenSearch 2.x cluster (majors must
 * match) and the forwarder's templates need OpenSearch 2.12 or later. Among 2.x, the four tables sorted by a
 * column (Devices, Recent integrity alerts, Logger key changes, Changed or vanished files) carry that sort in
 * `uiStateJSON` as `vis.sortColumn`, which only the table visualization rewritten in OSD 2.5.0 reads; 2.0-2.4
 * import them and show those rows in ranking order instead.
 */
export const MINIMUM_OSD = '2.5.0';

/**
 * Where an OSD panel shows other data than its Lens twin, by panel id (the README lists them). The rest show the
 * same data; what differs for all of them (tables paged by 10 rows, the legacy chart styling) is in the README.
 */
export const OSD_DIFFERENCES: Readonly<Record<string, string>> = {
  'encedo_hem-overview-devices':
    'Firmware is the value in the newest event (a top hit); Lens skips events without a firmware, so here it is ' +
    'blank when the newest event came from a log file without a header.',
};

const TIME_FIELD = '@timestamp';
const TABLE_PARAMS = {
  perPage: 10,
  showPartialRows: false,
  showMetricsAtAllLevels: false,
  showTotal: false,
  totalFunc: 'sum',
  percentageCol: '',
};

/** What a visualization type calls its metrics, its terms buckets and its date histogram. */
type Schemas = { metric: string; terms: string; date: string };
type Agg = { id: string; enabled: true; type: string; schema: string; params: Record<string, unknown> };

const AGG_TYPE = { max: 'max', min: 'min', sum: 'sum', average: 'avg' } as const;

const label = (c: Column) => (c.kind === 'date' ? undefined : c.label);
const customLabel = (c: Column) => (label(c) ? { customLabel: label(c) } : {});

/**
 * The agg of one spec column; `id` is the column's position + 1. `schema`: the schema names of this chart type;
 * `rankBy`: the id of the count agg every terms agg is ordered by (as in Lens).
 */
function agg(c: Column, id: string, schema: Schemas, rankBy: string, table: boolean): Agg {
  const base = { id, enabled: true as const };
  switch (c.kind) {
    case 'date':
      return {
        ...base,
        type: 'date_histogram',
        schema: schema.date,
        params: {
          field: c.field,
          timeRange: null,
          useNormalizedOpenSearchInterval: true,
          scaleMetricValues: false,
          interval: 'auto',
          drop_partials: false,
          min_doc_count: 1,
          extended_bounds: {},
        },
      };
    case 'terms':
      return {
        ...base,
        type: 'terms',
        schema: schema.terms,
        params: {
          field: c.field,
          orderBy: rankBy,
          order: 'desc',
          size: c.size ?? 10,
          // An "Other" row in a table reads like a device or a key; in a chart it keeps the totals right.
          otherBucket: !table,
          otherBucketLabel: 'Other',
          missingBucket: false,
          missingBucketLabel: 'Missing',
          ...customLabel(c),
        },
      };
    case 'count':
      return { ...base, type: 'count', schema: schema.metric, params: { ...customLabel(c) } };
    case 'metric':
      return { ...base, type: AGG_TYPE[c.op], schema: schema.metric, params: { field: c.field, ...customLabel(c) } };
    case 'last':
      // OSD has no last_value; a top hit of size 1 sorted on the time field newest first is the same value.
      return {
        ...base,
        type: 'top_hits',
        schema: schema.metric,
        params: {
          field: c.field,
          aggregate: 'concat',
          size: 1,
          sortField: TIME_FIELD,
          sortOrder: 'desc',
          ...customLabel(c),
        },
      };
  }
}

/** The id of the panel's count agg, which ranks its terms aggs ('' when it has neither). */
function countId(spec: PanelSpec): string {
  const i = spec.columns.findIndex((c) => c.kind === 'count');
  if (i < 0 && spec.columns.some((c) => c.kind === 'terms')) throw new Error(`${spec.id}: terms need a count`);
  return i < 0 ? '' : String(i + 1);
}

const isBucket = (c: Column) => c.kind === 'date' || c.kind === 'terms';

/** visState and uiState of one panel. */
function visualization(spec: PanelSpec): { visState: Record<string, unknown>; uiState: Record<string, unknown> } {
  const rankBy = countId(spec);
  const ids = spec.columns.map((_, i) => String(i + 1));
  const title = spec.title;
  switch (spec.chart) {
    case 'bar': {
      const schema = { metric: 'metric', terms: 'group', date: 'segment' };
      const all = spec.columns.map((c, i) => agg(c, ids[i]!, schema, rankBy, false));
      const metrics = all.filter((a) => a.schema === 'metric');
      // Split series before the x-axis: the terms agg is the outer one, ranking values over the whole time range
      // (the same series in every bar), as the Lens panels do.
      const aggs = [
        ...metrics,
        ...all.filter((a) => a.schema === 'group'),
        ...all.filter((a) => a.schema === 'segment'),
      ];
      const count = metrics[0]!;
      const countLabel = (count.params.customLabel as string | undefined) ?? 'Count';
      return {
        visState: {
          title,
          type: 'histogram',
          aggs,
          params: {
            type: 'histogram',
            grid: { categoryLines: false },
            categoryAxes: [
              {
                id: 'CategoryAxis-1',
                type: 'category',
                position: 'bottom',
                show: true,
                style: {},
                scale: { type: 'linear' },
                labels: { show: true, filter: true, truncate: 100 },
                title: {},
              },
            ],
            valueAxes: [
              {
                id: 'ValueAxis-1',
                name: 'LeftAxis-1',
                type: 'value',
                position: 'left',
                show: true,
                style: {},
                scale: { type: 'linear', mode: 'normal' },
                labels: { show: true, rotate: 0, filter: false, truncate: 100 },
                title: { text: countLabel },
              },
            ],
            seriesParams: metrics.map((m) => ({
              show: true,
              type: 'histogram',
              mode: 'stacked',
              data: { label: (m.params.customLabel as string | undefined) ?? 'Count', id: m.id },
              valueAxis: 'ValueAxis-1',
              drawLinesBetweenPoints: true,
              lineWidth: 2,
              showCircles: true,
            })),
            addTooltip: true,
            addLegend: true,
            legendPosition: 'right',
            times: [],
            addTimeMarker: false,
            labels: { show: false },
            thresholdLine: { show: false, value: 10, width: 1, style: 'full', color: '#E7664C' },
          },
        },
        uiState: {},
      };
    }
    case 'table': {
      const schema = { metric: 'metric', terms: 'bucket', date: 'bucket' };
      // A table's columns are its bucket aggs, then its metric aggs, each in spec order.
      const order = [...spec.columns.keys()].sort(
        (a, b) => Number(!isBucket(spec.columns[a]!)) - Number(!isBucket(spec.columns[b]!)) || a - b,
      );
      const aggs = order.map((i) => agg(spec.columns[i]!, ids[i]!, schema, rankBy, true));
      let uiState: Record<string, unknown> = {};
      if (spec.sortBy !== undefined) {
        const sorted = order.findIndex((i) => label(spec.columns[i]!) === spec.sortBy);
        if (sorted < 0) throw new Error(`${spec.id}: no column ${spec.sortBy}`);
        uiState = { vis: { sortColumn: { colIndex: sorted, direction: 'desc' } } };
      }
      return { visState: { title, type: 'table', aggs, params: { ...TABLE_PARAMS } }, uiState };
    }
    case 'metric': {
      const schema = { metric: 'metric', terms: 'group', date: 'group' };
      return {
        visState: {
          title,
          type: 'metric',
          aggs: spec.columns.map((c, i) => agg(c, ids[i]!, schema, rankBy, false)),
          params: {
            addTooltip: true,
            addLegend: false,
            type: 'metric',
            metric: {
              percentageMode: false,
              useRanges: false,
              colorSchema: 'Green to Red',
              metricColorMode: 'None',
              colorsRange: [{ from: 0, to: 10000 }],
              labels: { show: true },
              invertColors: false,
              style: { bgFill: '#000', bgColor: false, labelColor: false, subText: '', fontSize: 60 },
            },
          },
        },
        uiState: {},
      };
    }
    case 'donut': {
      const schema = { metric: 'metric', terms: 'segment', date: 'segment' };
      const all = spec.columns.map((c, i) => agg(c, ids[i]!, schema, rankBy, false));
      return {
        visState: {
          title,
          type: 'pie',
          aggs: [...all.filter((a) => a.schema === 'metric'), ...all.filter((a) => a.schema !== 'metric')],
          params: {
            type: 'pie',
            addTooltip: true,
            addLegend: true,
            legendPosition: 'right',
            isDonut: true,
            // Slice labels with their share ("verified (99.5%)"), as the Lens donut shows percentages.
            labels: { show: true, values: true, last_level: true, truncate: 100 },
          },
        },
        uiState: {},
      };
    }
  }
}

/** The search source of a panel or a saved search: its KQL, its dataset filter, the index pattern by reference. */
function searchSource(dataset: string, query: string | undefined, extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    ...extra,
    query: { query: query ?? '', language: 'kuery' },
    filter: [phraseFilter('data_stream.dataset', dataset, searchFilterRef(0))],
    indexRefName: SEARCH_INDEX_REF,
  });
}

const indexRefs = () => [
  { name: SEARCH_INDEX_REF, type: 'index-pattern', id: DATA_VIEW_ID },
  { name: searchFilterRef(0), type: 'index-pattern', id: DATA_VIEW_ID },
];

export function visualizationObject(spec: PanelSpec): Record<string, unknown> {
  const { visState, uiState } = visualization(spec);
  return {
    type: 'visualization',
    id: spec.id,
    attributes: {
      title: spec.title,
      visState: JSON.stringify(visState),
      uiStateJSON: JSON.stringify(uiState),
      description: spec.about,
      version: 1,
      kibanaSavedObjectMeta: { searchSourceJSON: searchSource(spec.dataset, spec.query) },
    },
    references: indexRefs(),
    migrationVersion: { visualization: OSD_MIGRATION.visualization },
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
      hits: 0,
      columns: [...spec.columns],
      sort: [[TIME_FIELD, 'desc']],
      version: 1,
      kibanaSavedObjectMeta: {
        searchSourceJSON: searchSource(spec.dataset, spec.query, { highlightAll: true, version: true }),
      },
    },
    references: indexRefs(),
    migrationVersion: { search: OSD_MIGRATION.search },
  };
}

/**
 * A dashboard of by-reference visualizations, referenced as OSD exports do: the panel carries
 * `panelRefName: panel_<n>`, the reference is named the same. Our own polling is hidden by a negated filter pill.
 */
export function dashboardObject(spec: DashboardSpec): Record<string, unknown> {
  const grids = panelGrid(spec.panels);
  const panels = spec.panels.map((_, n) => ({
    version: MINIMUM_OSD,
    gridData: grids[n]!,
    panelIndex: grids[n]!.i,
    embeddableConfig: {},
    panelRefName: `panel_${n}`,
  }));
  const selfFilter = phraseFilter('encedo_hem.self_generated', true, searchFilterRef(0), true);
  return {
    type: 'dashboard',
    id: spec.id,
    attributes: {
      title: spec.title,
      description: spec.description,
      hits: 0,
      panelsJSON: JSON.stringify(panels),
      optionsJSON: JSON.stringify({ useMargins: true, hidePanelTitles: false }),
      version: 1,
      timeRestore: false,
      kibanaSavedObjectMeta: {
        searchSourceJSON: JSON.stringify({ query: { query: '', language: 'kuery' }, filter: [selfFilter] }),
      },
    },
    references: [
      ...spec.panels.map((p, n) => ({ name: `panel_${n}`, type: 'visualization', id: p.id })),
      { name: searchFilterRef(0), type: 'index-pattern', id: DATA_VIEW_ID },
    ],
    migrationVersion: { dashboard: OSD_MIGRATION.dashboard },
  };
}

/** The index pattern; OSD reads its field list from the cluster the first time it is used. */
export function indexPatternObject(): Record<string, unknown> {
  return {
    type: 'index-pattern',
    id: DATA_VIEW_ID,
    attributes: { title: DATA_VIEW_TITLE, timeFieldName: TIME_FIELD },
    references: [],
    migrationVersion: { 'index-pattern': OSD_MIGRATION['index-pattern'] },
  };
}

/** Every saved object, in import order: index pattern, visualizations, saved searches, dashboards. */
export function openSearchDashboardsObjects(): Record<string, unknown>[] {
  return [
    indexPatternObject(),
    ...DASHBOARDS.flatMap((d) => d.panels.map(visualizationObject)),
    ...SEARCHES.map(searchObject),
    ...DASHBOARDS.map(dashboardObject),
  ];
}
