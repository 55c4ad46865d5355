package forwarder.engine;

import java.util.function.UnaryOperator;

import org.opensearch.client.node.NodeClient;
import org.opensearch.common.util.concurrent.ThreadContext;
import org.opensearch.plugins.ActionPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.rest.RestChannel;
import org.opensearch.rest.RestHandler;
import org.opensearch.rest.RestRequest;

/**
 * Test-only shim: makes every REST response carry {@code X-elastic-product: Elasticsearch}, which the
 * official Elasticsearch clients (v8/v9) require on every 2xx response.
 *
 * <p>The header is added to the request's thread context before the real handler runs; OpenSearch copies
 * the context's response headers into the HTTP response. Requests rejected before a handler is reached
 * (404 for an unknown route, 406 for an unknown media type) do not get it, which is fine because the
 * client only checks 2xx responses.
 *
 * <p>This jar also carries the second shim, {@link EsMediaTypeProvider}, registered through
 * {@code META-INF/services}. Neither is active in plain mode ({@link EngineMode}).
 */
public class EsCompatPlugin extends Plugin implements ActionPlugin {

    static final String PRODUCT_HEADER = "X-elastic-product";
    static final String PRODUCT_VALUE = "Elasticsearch";

    @Override
    public UnaryOperator<RestHandler> getRestHandlerWrapper(ThreadContext threadContext) {
        return handler -> new ProductHeaderHandler(handler, threadContext);
    }

    /** Delegates everything (routes, content-stream support, ...) and only adds the response header. */
    static final class ProductHeaderHandler extends RestHandler.Wrapper {
        private final ThreadContext threadContext;

        ProductHeaderHandler(RestHandler delegate, ThreadContext threadContext) {
            super(delegate);
            this.threadContext = threadContext;
        }

        @Override
        public void handleRequest(RestRequest request, RestChannel channel, NodeClient client) throws Exception {
            threadContext.addResponseHeader(PRODUCT_HEADER, PRODUCT_VALUE);
            super.handleRequest(request, channel, client);
        }
    }
}
