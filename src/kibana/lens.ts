/**
 * A compact description of Lens panels, turned into Kibana saved objects (8.11+ import format).
 * Every panel filters on its dataset so a dashboard never shows other data.
 */

export const DATA_VIEW_ID = 'encedo_hem-data-view';
export const DATA_VIEW_TITLE = 'logs-encedo_hem.*';

export type Column =
  | { kind: 'date'; field: string }
  | { kind: 'terms'; field: string; size?: number; label?: string }
  | { kind: 'count'; label?: string }
  | { kind: 'metric'; op: 'max' | 'sum' | 'average' | 'last_value'; field: string; label?: string };

export interface PanelSpec {
  readonly id: string;
  readonly title: string;
  readonly dataset: 'encedo_hem.audit' | 'encedo_hem.integrity';
  /** KQL narrowing the panel further (besides the dataset filter). */
  readonly query?: string;
  readonly chart: 'bar' | 'table' | 'metric' | 'donut';
  readonly columns: readonly Column[];
  readonly width?: number;
  readonly height?: number;
}

export interface DashboardSpec {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly panels: readonly PanelSpec[];
}

const LAYER = 'layer1';

/** `orderBy`: the metric column that ranks terms buckets. */
function columnState(c: Column, orderBy: string): Record<string, unknown> {
  switch (c.kind) {
    case 'date':
      return {
        label: '@timestamp',
        dataType: 'date',
        operationType: 'date_histogram',
        sourceField: c.field,
        isBucketed: true,
        scale: 'interval',
        params: { interval: 'auto', includeEmptyRows: true },
      };
    case 'terms':
      return {
        label: c.label ?? c.field,
        dataType: 'string',
        operationType: 'terms',
        sourceField: c.field,
        isBucketed: true,
        scale: 'ordinal',
        params: {
          size: c.size ?? 10,
          orderBy: { type: 'column', columnId: orderBy },
          orderDirection: 'desc',
          otherBucket: true,
          missingBucket: false,
        },
      };
    case 'count':
      return {
        label: c.label ?? 'Count',
        dataType: 'number',
        operationType: 'count',
        sourceField: '___records___',
        isBucketed: false,
        scale: 'ratio',
        params: { emptyAsNull: true },
      };
    case 'metric':
      return {
        label: c.label ?? `${c.op} of ${c.field}`,
        dataType: c.field === '@timestamp' ? 'date' : 'number',
        operationType: c.op,
        sourceField: c.field,
        isBucketed: false,
        scale: 'ratio',
        ...(c.op === 'last_value' ? { params: { sortField: '@timestamp' } } : {}),
      };
  }
}

function visualization(spec: PanelSpec, ids: string[]): { type: string; state: Record<string, unknown> } {
  const bucketIds = ids.filter((_, i) => spec.columns[i]!.kind === 'date' || spec.columns[i]!.kind === 'terms');
  const metricIds = ids.filter((_, i) => spec.columns[i]!.kind === 'count' || spec.columns[i]!.kind === 'metric');
  switch (spec.chart) {
    case 'bar': {
      const x = ids[spec.columns.findIndex((c) => c.kind === 'date')];
      const split = bucketIds.find((id) => id !== x);
      return {
        type: 'lnsXY',
        state: {
          legend: { isVisible: true, position: 'right' },
          valueLabels: 'hide',
          preferredSeriesType: 'bar_stacked',
          layers: [
            {
              layerId: LAYER,
              layerType: 'data',
              seriesType: 'bar_stacked',
              accessors: metricIds,
              ...(x ? { xAccessor: x } : {}),
              ...(split ? { splitAccessor: split } : {}),
            },
          ],
        },
      };
    }
    case 'table':
      return {
        type: 'lnsDatatable',
        state: { layerId: LAYER, layerType: 'data', columns: ids.map((columnId) => ({ columnId })) },
      };
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
            },
          ],
        },
      };
  }
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

export function lensObject(spec: PanelSpec): Record<string, unknown> {
  const ids = spec.columns.map((_, i) => `col${i}`);
  const orderBy =
    ids[
      Math.max(
        0,
        spec.columns.findIndex((c) => c.kind === 'count' || c.kind === 'metric'),
      )
    ]!;
  const columns = Object.fromEntries(spec.columns.map((c, i) => [ids[i], columnState(c, orderBy)]));
  const vis = visualization(spec, ids);
  return {
    type: 'lens',
    id: spec.id,
    attributes: {
      title: spec.title,
      description: '',
      visualizationType: vis.type,
      state: {
        datasourceStates: { formBased: { layers: { [LAYER]: { columns, columnOrder: ids, incompleteColumns: {} } } } },
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
    coreMigrationVersion: '8.8.0',
    typeMigrationVersion: '8.9.0',
  };
}

export function dashboardObject(spec: DashboardSpec): Record<string, unknown> {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  const panels = spec.panels.map((p, i) => {
    const w = p.width ?? 24;
    const h = p.height ?? 12;
    if (x + w > 48) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const grid = { x, y, w, h, i: String(i + 1) };
    x += w;
    rowHeight = Math.max(rowHeight, h);
    return {
      type: 'lens',
      gridData: grid,
      panelIndex: String(i + 1),
      embeddableConfig: { enhancements: {} },
      panelRefName: `panel_${i + 1}`,
      title: p.title,
    };
  });
  // Our own polling is hidden by default; the filter pill can be switched off in one click.
  const selfFilter = phraseFilter(
    'encedo_hem.self_generated',
    true,
    'kibanaSavedObjectMeta.searchSourceJSON.filter[0].meta.index',
    true,
  );
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
      ...spec.panels.map((p, i) => ({ type: 'lens', id: p.id, name: `panel_${i + 1}` })),
      { type: 'index-pattern', id: DATA_VIEW_ID, name: 'kibanaSavedObjectMeta.searchSourceJSON.filter[0].meta.index' },
    ],
    coreMigrationVersion: '8.8.0',
    typeMigrationVersion: '8.9.0',
  };
}

export function dataViewObject(): Record<string, unknown> {
  return {
    type: 'index-pattern',
    id: DATA_VIEW_ID,
    attributes: { title: DATA_VIEW_TITLE, name: 'Encedo HEM', timeFieldName: '@timestamp', allowNoIndex: true },
    references: [],
    coreMigrationVersion: '8.8.0',
    typeMigrationVersion: '8.0.0',
  };
}
