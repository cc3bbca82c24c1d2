import { useState } from "react";
import { api, errorMessage } from "../../lib/api";
import { showConversation } from "../../lib/client";
import { Modal } from "../Modal";
import { ErrorNote } from "../ui";
import { UserSearch } from "./UserSearch";

export function NewChatDialog({ onClose }: { onClose: () => void }) {
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal title="New chat" onClose={onClose}>
      {error && (
        <div className="mb-3">
          <ErrorNote>{error}</ErrorNote>
        </div>
      )}
      <UserSearch
        onPick={async (u) => {
          try {
            showConversation(await api.openDirect(u.id));
            onClose();
          } catch (e) {
            setError(errorMessage(e));
          }
        }}
      />
    </Modal>
  );
}
