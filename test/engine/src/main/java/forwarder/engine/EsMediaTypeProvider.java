package forwarder.engine;

import java.util.List;
import java.util.Map;

import org.opensearch.common.xcontent.XContentType;
import org.opensearch.core.xcontent.MediaType;
import org.opensearch.core.xcontent.spi.MediaTypeProvider;

/**
 * Test-only shim: teaches OpenSearch the vendored media types that the official Elasticsearch clients send
 * on every request ({@code Content-Type}/{@code Accept: application/vnd.elasticsearch+json; compatible-with=8},
 * and the {@code +x-ndjson} variant for bulk/msearch). They are aliases of plain JSON; the
 * {@code compatible-with} parameter is ignored.
 *
 * <p>Loaded by {@code MediaTypeRegistry} through {@link java.util.ServiceLoader}; registered in
 * {@code META-INF/services/org.opensearch.core.xcontent.spi.MediaTypeProvider}. A service registration cannot
 * be switched off per run, so the provider itself consults {@link EngineMode}: in plain mode it adds nothing
 * and the engine refuses these media types like stock OpenSearch (406).
 */
public class EsMediaTypeProvider implements MediaTypeProvider {

    @Override
    public List<MediaType> getMediaTypes() {
        return List.of();
    }

    @Override
    public Map<String, MediaType> getAdditionalMediaTypes() {
        if (EngineMode.plain()) {
            return Map.of();
        }
        return Map.of(
            "application/vnd.elasticsearch+json", XContentType.JSON,
            "application/vnd.elasticsearch+x-ndjson", XContentType.JSON
        );
    }
}
