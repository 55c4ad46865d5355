package forwarder.engine;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.script.mustache.MustachePlugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A real OpenSearch node whose modules come from the classpath instead of a distribution's
 * {@code modules/} directory (Node's constructor for that is protected).
 */
final class EngineNode extends Node {

    EngineNode(Environment environment, boolean plain) {
        super(environment, plugins(plain), true);
    }

    static Collection<Class<? extends Plugin>> plugins(boolean plain) {
        List<Class<? extends Plugin>> plugins = new ArrayList<>(List.of(
            Netty4Plugin.class,          // HTTP and transport
            CommonAnalysisPlugin.class,  // standard analyzers/tokenizers/filters
            MapperExtrasPlugin.class,    // scaled_float, search_as_you_type, token_count, rank_feature(s)
            PainlessPlugin.class,        // scripts
            IngestCommonPlugin.class,    // ingest processors
            MustachePlugin.class         // mustache templates ({{{_ingest.timestamp}}} in ingest processors)
        ));
        if (!plain) {
            plugins.add(EsCompatPlugin.class); // X-elastic-product on every response
        }
        return List.copyOf(plugins);
    }
}
