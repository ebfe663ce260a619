import { app } from '@azure/functions';

// App-wide setup for the Functions worker; nothing else may happen at import time.
//
// A Service Bus batch reaches the forwarder as the messages plus index-aligned `…Array` metadata
// (messageIdArray, contentTypeArray, correlationIdArray, …). By default the host drops null and empty
// strings from those arrays (and empty bodies from a string batch), so they can be shorter than the
// batch and no longer line up with the messages: the forwarder would attach one event's message id to
// another. Declaring this worker capability makes the host keep the empty entries.
app.setup({ capabilities: { IncludeEmptyEntriesInMessagePayload: 'true' } });
